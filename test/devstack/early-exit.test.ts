/** `dev up` fails as soon as a server it started exits, with that server's last log lines, instead of timing out. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { stackDown, stackUp } from '../../devstack/dev-stack';

describe('dev up when a server exits at once', () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-early-exit-'));
  after(async () => {
    await stackDown(stateDir);
  });

  it('names the server and shows its log instead of waiting for the health timeout', async () => {
    // A folder where the SQLite file should be: the Temporal dev server cannot open its database and exits.
    mkdirSync(path.join(stateDir, 'temporal.db'));
    const t0 = Date.now();
    await assert.rejects(stackUp({ stateDir, ports: 'auto', healthTimeoutSeconds: 90 }), (err: Error) => {
      assert.match(err.message, /^temporal exited before it became healthy; see .*temporal\.log; last lines:\n/);
      return true;
    });
    assert.ok(Date.now() - t0 < 60_000, `took ${Date.now() - t0} ms`);
  });
});

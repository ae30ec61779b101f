/**
 * CLI behaviour that needs no server: option checks, the shared -c rule, where commands look for the stack and
 * what they say when it is not there, and output fit for pipes. Every case runs bin/realgen as a process.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const repo = path.resolve(__dirname, '..', '..');
const bin = path.join(repo, 'bin', 'realgen');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'realgen-cli-offline-'));
/** An environment without stack overrides, whose state folder has no endpoints file. */
const cleanEnv = (extra: Record<string, string> = {}) => {
  const env: NodeJS.ProcessEnv = { ...process.env, REALGEN_STATE_DIR: mkdtempSync(path.join(tmp, 'state-')), ...extra };
  for (const k of [
    'REALGEN_TEMPORAL_ADDRESS',
    'REALGEN_S3_ENDPOINT',
    'REALGEN_S3_ACCESS_KEY_FILE',
    'REALGEN_S3_SECRET_KEY_FILE',
    'REALGEN_CONFIG',
    'NO_COLOR',
    // CI=true (as CI sets it) turns colours off in the colour libraries; these tests stand for a user's terminal.
    'CI',
    'FORCE_COLOR',
  ]) {
    if (!(k in extra)) delete env[k];
  }
  return env;
};
const realgen = (args: string[], env: NodeJS.ProcessEnv = cleanEnv()) =>
  spawnSync(bin, args, { encoding: 'utf8', env, timeout: 60_000 });

describe('realgen CLI without a server', () => {
  it('checks --priority, --every, --status and --since before contacting a server, naming the flag and the value', () => {
    const cases: Array<[string[], RegExp]> = [
      [['run', '--priority', '9', '--dry-run'], /--priority: expected an integer in \[1, 5\], got "9"/],
      [
        ['schedule', 'eval', '--run', 'r1', '--every', '6 hours'],
        /--every: expected a duration like 45s, 30m, 6h or 1d, got "6 hours"/,
      ],
      [['runs', '--status', 'runing'], /--status: expected one or more of running \| completed \| failed .* got "runing"/],
      [
        ['runs', '--since', 'yesterday'],
        /--since: expected a duration back from now \(45m, 6h, 2d\) or an ISO date\/time .* got "yesterday"/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = realgen(args);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, message);
    }
  });

  it('set-max-steps with a non-integer names the argument and the value', () => {
    const r = realgen(['set-max-steps', 'r1', 'abc']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /steps: expected an integer ≥ 1, got "abc"/);
  });

  it('smoke --help does not freeze a run id at help time', () => {
    const r = realgen(['smoke', '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /smoke-\d{10,}/);
    assert.match(r.stdout, /--run-id/);
  });

  it('serve reward accepts -c (the error is about the file, not the option)', () => {
    const r = realgen(['serve', 'reward', '-c', path.join(tmp, 'missing.yaml')]);
    assert.equal(r.status, 1);
    assert.doesNotMatch(r.stderr, /unknown option/);
    assert.match(r.stderr, /missing\.yaml.*cannot be read/s);
  });

  it('run takes the config as -c as well as positionally, with the same output', () => {
    const env = cleanEnv({ REALGEN_TEMPORAL_ADDRESS: '127.0.0.1:1', REALGEN_S3_ENDPOINT: 'http://127.0.0.1:1' });
    const config = path.join(repo, 'configs', 'paper-8xh200.yaml');
    const a = realgen(['run', config, '--dry-run', '--run-id', 'same'], env);
    const b = realgen(['run', '-c', config, '--dry-run', '--run-id', 'same'], env);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(b.stdout, a.stdout);
  });

  it('finds the stack through the endpoints file of `dev up`, and the connection error names the address and the fix', () => {
    const state = mkdtempSync(path.join(tmp, 'state-'));
    writeFileSync(
      path.join(state, 'endpoints.json'),
      JSON.stringify({
        schema: 'realgen/dev-endpoints@1',
        temporalAddress: '127.0.0.1:1',
        temporalUiUrl: 'http://127.0.0.1:2',
        s3Endpoint: 'http://127.0.0.1:3',
        s3ConsoleUrl: 'http://127.0.0.1:4',
        accessKeyFile: path.join(state, 'ak'),
        secretKeyFile: path.join(state, 'sk'),
      }),
    );
    const r = realgen(['runs'], cleanEnv({ REALGEN_STATE_DIR: state }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot reach Temporal at 127\.0\.0\.1:1 \(from .*endpoints\.json/);
    assert.match(r.stderr, /realgen dev up/);
    writeFileSync(path.join(tmp, 'ak'), 'x\n');
    writeFileSync(path.join(tmp, 'sk'), 'y\n');
    const s3 = realgen(
      ['leaderboard'],
      cleanEnv({
        REALGEN_S3_ENDPOINT: 'http://127.0.0.1:1',
        REALGEN_S3_ACCESS_KEY_FILE: path.join(tmp, 'ak'),
        REALGEN_S3_SECRET_KEY_FILE: path.join(tmp, 'sk'),
      }),
    );
    assert.match(
      s3.stderr,
      /the object store at http:\/\/127\.0\.0\.1:1 \(from REALGEN_S3_ENDPOINT\) is not reachable \(ECONNREFUSED\)\. Start the embedded stack with `realgen dev up`/,
    );
    const env = realgen(['status', 'r1'], cleanEnv({ REALGEN_TEMPORAL_ADDRESS: '127.0.0.1:1' }));
    assert.match(env.stderr, /cannot reach Temporal at 127\.0\.0\.1:1 \(from REALGEN_TEMPORAL_ADDRESS\)/);
  });

  it('writes no ANSI colour codes into a pipe, and dev status fits 100 columns', () => {
    const r = realgen(['dev', 'status', '--state-dir', mkdtempSync(path.join(tmp, 'state-'))]);
    assert.equal(r.status, 1, 'a stack that is not running exits non-zero');
    assert.ok(!r.stdout.includes('\u001b['), 'no ANSI escape sequences');
    for (const line of r.stdout.split('\n')) assert.ok(line.length <= 100, `${line.length} columns: ${line}`);
  });

  it('ends quietly when the reader of stdout goes away (EPIPE)', async () => {
    const files = Array.from({ length: 400 }, () => path.join(repo, 'configs', 'mini.yaml'));
    const child = spawn(bin, ['config', 'check', ...files], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.doesNotMatch(stderr, /EPIPE|at .*\.ts:\d+/);
    assert.equal(code, 0, stderr);
  });
  it('on a terminal colours tables, and NO_COLOR turns that off', () => {
    // script(1) runs the command on a pseudo-terminal.
    const onTty = (extra: Record<string, string>) =>
      spawnSync('script', ['-qc', `${bin} dev status --state-dir ${mkdtempSync(path.join(tmp, 'state-'))}`, '/dev/null'], {
        encoding: 'utf8',
        env: cleanEnv(extra),
        timeout: 60_000,
      }).stdout;
    assert.ok(onTty({}).includes('\u001b['), 'colours on a terminal');
    assert.ok(!onTty({ NO_COLOR: '1' }).includes('\u001b['), 'none with NO_COLOR');
  });
});

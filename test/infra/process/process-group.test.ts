/** The process-group helper on real processes: SIGTERM → SIGKILL with grace, wait until gone, never a foreign pid. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { signalProcessGroup, spawnProcessGroup, stopProcessGroup } from '../../../infra/process/process-group';
import { readProcessIdentity, verifyOwnProcess, type ProcessIdentity } from '../../../infra/process/process-identity';
import { untilTrue } from '../../helpers/until';

const until = (what: string, cond: () => boolean) => untilTrue(what, cond, 10_000, 20);

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Processes this file started that are not under test (the "foreign" ones); killed at the end by their own pid. */
const bystanders: ChildProcess[] = [];
function bystander(): number {
  // Detached like a job-control shell's job: it leads its own group, as a reused pid typically would.
  const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  bystanders.push(child);
  assert.ok(child.pid);
  return child.pid;
}

after(() => {
  for (const c of bystanders) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('process group helper', () => {
  it('stops a group that ignores SIGTERM with SIGKILL after the grace, grandchildren included', async () => {
    const group = await spawnProcessGroup('bash', ['-c', "trap '' TERM; sleep 300 & echo $!; wait"]);
    const grandchild = await new Promise<number>((resolve) =>
      group.child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    assert.ok(running(grandchild));
    let escalated = false;
    const started = Date.now();
    await group.stop(300, () => (escalated = true));
    assert.ok(escalated, 'SIGKILL followed the grace period');
    assert.ok(Date.now() - started >= 300);
    assert.equal(running(grandchild), false, 'the grandchild went with its group');
    assert.equal(running(group.pid), false);
    assert.deepEqual(group.signal('SIGTERM'), { result: 'gone' });
  });

  it('ends with SIGTERM alone when the group obeys, and reaps a straggler the leader left behind', async () => {
    const group = await spawnProcessGroup('bash', ['-c', 'sleep 300 & echo $!; exit 0']);
    const straggler = await new Promise<number>((resolve) =>
      group.child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    assert.deepEqual(await group.exited, { code: 0, signal: null });
    assert.ok(running(straggler), 'the leader is gone, its group member is not');
    await group.reap();
    assert.equal(running(straggler), false);
  });

  it('rejects with the spawn error for a missing command', async () => {
    await assert.rejects(
      spawnProcessGroup('/nonexistent/realgen-generator', []),
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
    );
  });

  it('never signals a pid that now belongs to another process (reused pid)', async () => {
    const pid = bystander();
    await until('the bystander to run', () => readProcessIdentity(pid) !== null);
    const now = readProcessIdentity(pid) as ProcessIdentity;
    // What we would have recorded for an earlier process that had this pid: same pid, another start time.
    const recorded: ProcessIdentity = { ...now, startTicks: String(Number(now.startTicks) - 1) };
    const r = signalProcessGroup(recorded, 'SIGKILL');
    assert.equal(r.result, 'refused');
    assert.match((r as { reason: string }).reason, /reused/);
    const stop = await stopProcessGroup(recorded, { graceMs: 100 });
    assert.equal(stop.result, 'refused');
    // Another executable at the same pid and start time is refused too.
    assert.equal(signalProcessGroup({ ...now, exe: '/opt/temporal/bin/temporal' }, 'SIGKILL').result, 'refused');
    await delay(200);
    assert.ok(running(pid), 'the foreign process is alive');
    // The same call with the true identity does signal (the check is what spared it above).
    assert.deepEqual(await stopProcessGroup(now, { graceMs: 2000 }), { result: 'stopped' });
    assert.equal(running(pid), false);
  });

  it('treats a pid without a recorded identity as not ours, and a vanished pid as gone', () => {
    const pid = bystander();
    assert.equal(verifyOwnProcess(undefined, pid).status, 'foreign');
    assert.equal(verifyOwnProcess(readProcessIdentity(pid)).status, 'own');
    assert.equal(verifyOwnProcess({ pid: 0x3ffffff, bootId: 'x', startTicks: '1', exe: null }).status, 'gone');
  });
});

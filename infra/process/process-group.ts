/**
 * A child process started in its own process group, so that everything it starts (accelerate and torchrun workers,
 * a shell's children, dataloader workers) is signalled and reaped together: SIGTERM to the group, SIGKILL after a
 * grace period, then wait until no member is left.
 *
 * Every group signal first verifies that the group is still ours (process-identity.ts): the leader's identity is
 * captured at spawn, and a pid that now belongs to another process is never signalled. While any member of our group
 * lives, the kernel keeps the leader's pid reserved (it is the group id), so "leader gone" means either our
 * stragglers or nothing; a live process holding the pid with another start time means the pid was reused.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { readProcessIdentity, verifyOwnProcess, type ProcessIdentity } from './process-identity';

/** How the leader ended. */
export interface GroupExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `signalled`: sent; `gone`: no member left; `refused`: the pid is someone else's now (nothing was sent). */
export type GroupSignalResult = { result: 'signalled' } | { result: 'gone' } | { result: 'refused'; reason: string };

/**
 * Sends `signal` (0 probes) to the group led by `leader`, only after verifying that the group is still ours.
 */
export function signalProcessGroup(leader: ProcessIdentity, signal: NodeJS.Signals | 0): GroupSignalResult {
  const check = verifyOwnProcess(leader);
  if (check.status === 'foreign') return { result: 'refused', reason: check.reason };
  // `own`: the leader (maybe a zombie) is ours. `gone`: no process holds the pid, so a group with that id can only be
  // what is left of ours (the pid stays reserved while the group has members).
  try {
    process.kill(-leader.pid, signal);
    return { result: 'signalled' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return { result: 'gone' };
    return { result: 'refused', reason: `signalling process group ${leader.pid}: ${code ?? (err as Error).message}` };
  }
}

/** True while a member of the group led by `leader` (ours, verified) is left. */
export function processGroupAlive(leader: ProcessIdentity): boolean {
  return signalProcessGroup(leader, 0).result === 'signalled';
}

async function waitGone(leader: ProcessIdentity, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processGroupAlive(leader)) {
    if (Date.now() >= deadline) return false;
    await delay(25);
  }
  return true;
}

export interface StopOptions {
  /** Milliseconds between SIGTERM and SIGKILL. */
  graceMs: number;
  /** How long to wait for the group to vanish after SIGKILL. @default 10000 */
  killWaitMs?: number;
  /** Called when the grace period ran out and SIGKILL follows. */
  onEscalate?: () => void;
}

/** What `stopProcessGroup` did. */
export type StopResult =
  { result: 'stopped' } | { result: 'gone' } | { result: 'refused'; reason: string } | { result: 'stuck'; reason: string };

/**
 * Stops a group we started (in this or an earlier process): SIGTERM, SIGKILL after the grace period, then waits until
 * no member is left. A group that is not verifiably ours is left alone (`refused`, with the reason).
 */
export async function stopProcessGroup(leader: ProcessIdentity, options: StopOptions): Promise<StopResult> {
  const term = signalProcessGroup(leader, 'SIGTERM');
  if (term.result !== 'signalled') return term;
  if (await waitGone(leader, options.graceMs)) return { result: 'stopped' };
  options.onEscalate?.();
  const kill = signalProcessGroup(leader, 'SIGKILL');
  if (kill.result === 'refused') return kill;
  const killWaitMs = options.killWaitMs ?? 10_000;
  if (await waitGone(leader, killWaitMs)) return { result: 'stopped' };
  return { result: 'stuck', reason: `process group ${leader.pid} still has members ${killWaitMs / 1000} s after SIGKILL` };
}

/** A running child in its own process group. */
export interface ProcessGroup {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** The leader's pid, which is also the group id. */
  readonly pid: number;
  /** The leader's identity, captured at spawn (without the executable: a leader may exec another program). */
  readonly leader: ProcessIdentity;
  /** The leader's exit. */
  readonly exited: Promise<GroupExit>;
  /** The leader's exit once its stdout and stderr are closed too. */
  readonly closed: Promise<GroupExit>;
  /** Signals the whole group (verified first). */
  signal(signal: NodeJS.Signals): GroupSignalResult;
  /**
   * SIGTERM to the group, SIGKILL after `graceMs` unless the leader exited, then waits for the leader's exit and
   * until the group is gone (`reap`). Never rejects; calling it again joins the first stop.
   */
  stop(graceMs: number, onEscalate?: () => void): Promise<void>;
  /** SIGKILLs whatever is left in the group and waits (up to `timeoutMs`) until it is gone. */
  reap(timeoutMs?: number): Promise<void>;
}

export interface SpawnGroupOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts `command args…` detached, in its own process group, stdin ignored and stdout/stderr piped. Rejects with the
 * spawn error (e.g. ENOENT for a missing command) when the process could not be started.
 */
export async function spawnProcessGroup(
  command: string,
  args: readonly string[],
  options: SpawnGroupOptions = {},
): Promise<ProcessGroup> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const pid = child.pid;
  if (pid === undefined) throw await spawnError;
  // libuv returns from spawn only after the exec, and a child is reaped by us only, so /proc/<pid> is this child now.
  const leader = readProcessIdentity(pid, { exe: false }) ?? { pid, bootId: '', startTicks: '', exe: null };
  const exited = new Promise<GroupExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const closed = new Promise<GroupExit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const signal = (sig: NodeJS.Signals) => signalProcessGroup(leader, sig);
  const reap = async (timeoutMs = 5000) => {
    if (signal('SIGKILL').result === 'signalled') await waitGone(leader, timeoutMs);
  };
  let stopping: Promise<void> | undefined;
  const stop = (graceMs: number, onEscalate?: () => void) => {
    stopping ??= (async () => {
      signal('SIGTERM');
      const killer = setTimeout(() => {
        onEscalate?.();
        signal('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(killer);
      await reap();
    })();
    return stopping;
  };
  return { child, pid, leader, exited, closed, signal, stop, reap };
}

/**
 * Starts a detached watcher (its own process group) that SIGKILLs the group of `leader` when this process dies, even
 * by SIGKILL, so no GPU process outlives it. It exits once the group is gone, and never signals a group whose leader
 * pid now names a process with another start time.
 */
export function startGroupGuardian(leader: ProcessIdentity): void {
  const code = [
    "const fs=require('fs');const [a,g,t]=process.argv.slice(1);const A=Number(a),G=Number(g);",
    "const alive=(p)=>{try{process.kill(p,0);return true}catch(e){return e.code==='EPERM'}};",
    "const start=(p)=>{try{const s=fs.readFileSync('/proc/'+p+'/stat','utf8');",
    "return s.slice(s.lastIndexOf(')')+2).split(' ')[19]}catch{return null}};",
    'setInterval(()=>{if(!alive(-G))process.exit(0);const s=start(G);if(s!==null&&s!==t)process.exit(0);',
    "if(process.ppid!==A||!alive(A)){try{process.kill(-G,'SIGKILL')}catch{}process.exit(0)}},250);",
  ].join('');
  const guardian = spawn(process.execPath, ['-e', code, String(process.pid), String(leader.pid), leader.startTicks], {
    detached: true,
    stdio: 'ignore',
  });
  guardian.unref();
}

/**
 * Liveness and stopping of the stack's server processes (each started detached, as its own process group). A
 * process is signalled only when it is verifiably the one `up` started (infra/process/process-identity.ts): after a
 * reboot or a crash, the recorded pid may belong to anything.
 */
import { stopProcessGroup, type StopResult } from '../infra/process/process-group';
import { readProcessIdentity, verifyOwnProcess, type ProcessIdentity } from '../infra/process/process-identity';

/**
 * A server process as `up` recorded it. `identity` (pid, boot, start time, executable) is what `down` verifies before
 * signalling; state files of older versions lack it, and their pids are then never signalled.
 */
export interface RecordedProcess {
  pid: number;
  identity?: ProcessIdentity;
}

/** Whether the recorded server is running and is the process `up` started. */
export function isOwnAlive(svc: RecordedProcess | null | undefined): boolean {
  if (svc === null || svc === undefined || svc.pid <= 0) return false;
  return verifyOwnProcess(svc.identity, svc.pid).status === 'own';
}

/** Whether any process has this pid (for servers just spawned, before an identity exists). */
export function isAlive(pid: number | null | undefined): boolean {
  if (pid === null || pid === undefined || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The identity of a process we just started (spawn returns after its exec), to verify before any later signal. */
export function recordIdentity(pid: number): { identity?: ProcessIdentity } {
  const identity = readProcessIdentity(pid);
  return identity === null ? {} : { identity };
}

/**
 * Stops the process group of a recorded server: SIGTERM, then SIGKILL after `graceMs`. Only a process verified as the
 * one we started is signalled; anything else (a reused pid, a state file without identity) is left alone and the
 * result says why.
 */
export async function stopGroup(svc: RecordedProcess, graceMs = 10_000): Promise<StopResult> {
  const check = verifyOwnProcess(svc.identity, svc.pid);
  if (check.status !== 'own') return check.status === 'gone' ? { result: 'gone' } : { result: 'refused', reason: check.reason };
  return await stopProcessGroup(svc.identity as ProcessIdentity, { graceMs, killWaitMs: 60_000 });
}

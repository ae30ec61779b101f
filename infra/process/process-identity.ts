/**
 * Which process a pid names, so that we never signal a process that is not ours. A pid alone is not an identity:
 * after the process ends (or after a reboot) the kernel hands the number to someone else. A pid plus the boot it
 * lives in plus its start time (field 22 of /proc/<pid>/stat, clock ticks since boot) names exactly one process;
 * the executable path is kept as a second check where the process is not expected to exec something else.
 *
 * Linux only (the embedded stack's tools are Linux builds): where /proc is missing nothing can be verified, so
 * nothing is signalled.
 */
import { readFileSync, readlinkSync } from 'node:fs';

/** A process as recorded when we started it. */
export interface ProcessIdentity {
  pid: number;
  /** /proc/sys/kernel/random/boot_id at capture: start times only compare within one boot. */
  bootId: string;
  /** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot (unchanged by exec). */
  startTicks: string;
  /** /proc/<pid>/exe at capture; null when unreadable or deliberately not compared (a leader that may exec). */
  exe: string | null;
}

/** Whether a recorded identity still names a live process: ours, gone (nothing to signal), or someone else's. */
export type OwnershipCheck = { status: 'own' } | { status: 'gone'; reason: string } | { status: 'foreign'; reason: string };

function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/** Field 22 (starttime) of /proc/<pid>/stat; null when there is no such process. */
function readStartTicks(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may itself hold spaces or ')': fields 3.. follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  return rest[19] ?? null;
}

function readExe(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    // Zombies and other users' processes have no readable exe link.
    return null;
  }
}

/**
 * The identity of the live process `pid` now, or null when there is no such process (or no /proc to read it from).
 * `exe: false` leaves the executable out, for a process that may exec another program after we recorded it.
 */
export function readProcessIdentity(pid: number, options: { exe?: boolean } = {}): ProcessIdentity | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const bootId = readBootId();
  const startTicks = readStartTicks(pid);
  if (bootId === null || startTicks === null) return null;
  return { pid, bootId, startTicks, exe: options.exe === false ? null : readExe(pid) };
}

/** True when the current system can verify process identities at all. */
export function canVerifyProcesses(): boolean {
  return readBootId() !== null;
}

/**
 * Checks that `expected` still names a live process: `own` only when the boot, the start time and (where both are
 * known) the executable match. A missing record is never `own`: without one we cannot tell our process from another.
 */
export function verifyOwnProcess(expected: ProcessIdentity | null | undefined, pid = expected?.pid): OwnershipCheck {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return { status: 'gone', reason: 'no pid recorded' };
  if (!canVerifyProcesses())
    return { status: 'foreign', reason: `cannot verify pid ${pid}: /proc is not available on this system` };
  const now = readProcessIdentity(pid);
  if (now === null) return { status: 'gone', reason: `no process has pid ${pid}` };
  if (expected === null || expected === undefined || expected.pid !== pid) {
    return {
      status: 'foreign',
      reason: `pid ${pid} is alive but no identity was recorded for it, so it cannot be verified as ours`,
    };
  }
  if (now.bootId !== expected.bootId)
    return { status: 'foreign', reason: `pid ${pid} was recorded in an earlier boot; the process now holding it is another one` };
  if (now.startTicks !== expected.startTicks) {
    return {
      status: 'foreign',
      reason: `pid ${pid} now belongs to a process started at tick ${now.startTicks}, not ours (tick ${expected.startTicks}): the pid was reused`,
    };
  }
  if (expected.exe !== null && now.exe !== null && now.exe !== expected.exe) {
    return { status: 'foreign', reason: `pid ${pid} runs ${now.exe}, not ${expected.exe}` };
  }
  return { status: 'own' };
}

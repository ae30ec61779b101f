/**
 * Who listens on a TCP port, from /proc (Linux): the socket's inode from /proc/net/tcp{,6}, then the process whose
 * /proc/<pid>/fd links to `socket:[inode]`. Other users' processes are unreadable; then only the port is known.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface PortHolder {
  port: number;
  pid: number | null;
  command: string | null;
}

const LISTEN = '0A';

/** Inodes of sockets listening on `port` (any address, IPv4 or IPv6). */
function listeningInodes(port: number): string[] {
  const inodes: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (local === undefined || cols[3] !== LISTEN) continue;
      const portHex = local.slice(local.lastIndexOf(':') + 1);
      if (Number.parseInt(portHex, 16) === port && cols[9] !== undefined) inodes.push(cols[9]);
    }
  }
  return inodes;
}

function commandOf(pid: number): string | null {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s) => s !== '')
      .join(' ');
    return cmd === '' ? null : cmd;
  } catch {
    return null;
  }
}

/** The listener on `port`, as far as /proc lets this user see it. */
export function findPortHolder(port: number): PortHolder {
  const inodes = new Set(listeningInodes(port).map((i) => `socket:[${i}]`));
  if (inodes.size === 0) return { port, pid: null, command: null };
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return { port, pid: null, command: null };
  }
  for (const p of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${p}/fd/${fd}`))) return { port, pid: Number(p), command: commandOf(Number(p)) };
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return { port, pid: null, command: null };
}

/** `port 7243 (held by pid 123: temporal server start-dev …)`, or just `port 7243` when the holder is unreadable. */
export function describePortHolder(h: PortHolder): string {
  if (h.pid === null) return `port ${h.port} (holder not visible to this user)`;
  const cmd = h.command === null ? '' : `: ${h.command.length > 120 ? `${h.command.slice(0, 117)}...` : h.command}`;
  return `port ${h.port} (held by pid ${h.pid}${cmd})`;
}

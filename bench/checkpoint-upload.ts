/**
 * `npm run bench:checkpoint`: a 1 GiB checkpoint file against a real MinIO, side by side in one run with the best
 * peer, MinIO's own client `mc` (same file, same server), and with a plain streamed file copy on the same disk:
 *   - up: our commit (upload, sha256, manifest last) vs `mc cp` to the same server;
 *   - down: our resume download (ranged parts in flight, sha256 checked against the manifest, rename) vs `mc cp` back;
 *   - our deep verify (re-read and re-hash), reported on its own;
 *   - the limit: CPU-seconds per GiB of each side, client and server (both transfers keep the 2 cores busy, so the
 *     ratio of CPU per GiB predicts the ratio of throughputs), and sha256 of the file alone (mc verifies nothing on
 *     the way down; our download must).
 * The order of mc and ours alternates by round (on this VM the second writer of a round can pay several times the
 * kernel time of the first; docs/performance.md).
 * Last line: `upload_vs_mc=… download_vs_mc=… upload_ratio_vs_copy=… peak_rss_growth_mib=…`.
 *
 * Env: REALGEN_BENCH_SIZE_MIB (default 1024), REALGEN_BENCH_ROUNDS (default 2). `mc` is installed into .tools/bin
 * by `scripts/install-tools.sh --with-mc` (the npm script does that first).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { readFileSync } from 'node:fs';
import { CheckpointStore } from '../infra/s3/checkpoint-store';
import { createS3Client } from '../infra/s3/s3-client';
import { stackDown, stackUp } from '../devstack/dev-stack';

const MiB = 1024 * 1024;
const sizeMiB = Number(process.env.REALGEN_BENCH_SIZE_MIB ?? 1024);
const rounds = Number(process.env.REALGEN_BENCH_ROUNDS ?? 2);

async function writeTestFile(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  const block = Buffer.alloc(8 * MiB);
  randomFillSync(block);
  for (let written = 0, i = 0; written < bytes; written += block.length, i++) {
    block.writeUInt32LE(i, 0); // every block differs, so nothing downstream can dedupe
    if (!out.write(Buffer.from(block.subarray(0, Math.min(block.length, bytes - written))))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Linux's clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every mainstream kernel). */
const TICKS_PER_SECOND = 100;
const cores = os.cpus().length;

/** CPU seconds of a client process. */
interface Cpu {
  user: number;
  system: number;
}

/** One phase: its wall time, peak RSS growth, this process's CPU and the server's CPU while it ran. */
interface Measured<T> {
  seconds: number;
  peakGrowthMiB: number;
  value: T;
  ownCpu: Cpu;
  serverSeconds: number;
}

/** Totals of one side over the rounds. */
class Side {
  seconds = 0;
  client = 0;
  clientSystem = 0;
  server = 0;
  get cpu(): number {
    return this.client + this.server;
  }
  /** Adds a phase; `childCpu` when the client was another process (mc), else this process's CPU counts. */
  add(m: Measured<unknown>, childCpu?: Cpu): void {
    const c = childCpu ?? m.ownCpu;
    this.seconds += m.seconds;
    this.client += c.user + c.system;
    this.clientSystem += c.system;
    this.server += m.serverSeconds;
  }
}

/**
 * Runs `fn` and measures it: wall time, the peak RSS growth (sampled every 20 ms), the CPU of this process (all
 * threads) and of the server.
 */
async function measured<T>(serverCpu: () => number, fn: () => Promise<T>): Promise<Measured<T>> {
  // Every phase starts with no dirty pages left by the one before: each writes 1 GiB, and a writer that starts with
  // gigabytes still dirty can be throttled by the kernel's writeback of the previous phases' bytes.
  execFileSync('sync');
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const server0 = serverCpu();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  try {
    const value = await fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const own = process.cpuUsage(cpu0);
    const serverSeconds = serverCpu() - server0;
    peak = Math.max(peak, process.memoryUsage().rss);
    return {
      seconds,
      peakGrowthMiB: (peak - base) / MiB,
      value,
      ownCpu: { user: own.user / 1e6, system: own.system / 1e6 },
      serverSeconds,
    };
  } finally {
    clearInterval(timer);
  }
}

/** Runs `mc` and ours one after the other, ours first when `oursFirst`; returns [mc's, ours]. */
async function bothInOrder<A, B>(oursFirst: boolean, mc: () => Promise<A>, ours: () => Promise<B>): Promise<[A, B]> {
  if (oursFirst) {
    const o = await ours();
    return [await mc(), o];
  }
  const m = await mc();
  return [m, await ours()];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-bench-ckpt-'));
  const stateDir = path.join(dir, 'stack');
  try {
    const state = await stackUp({ stateDir, ports: 'auto' });
    const client = createS3Client(
      { endpoint: state.minio.endpoint, region: 'us-east-1', pathStyle: true, partSizeMiB: 16 },
      {
        accessKey: readFileSync(state.secrets.accessKeyFile, 'utf8').trim(),
        secretKey: readFileSync(state.secrets.secretKeyFile, 'utf8').trim(),
      },
    );
    const store = new CheckpointStore({ client, bucket: 'bench' });
    await store.ensureBucket();
    const source = path.join(dir, 'weights.bin');
    await writeTestFile(source, sizeMiB * MiB);
    console.log(`file: ${sizeMiB} MiB at ${source}; MinIO data and the copy target on the same disk`);

    const mc = path.resolve(__dirname, '..', '.tools', 'bin', 'mc');
    if (!existsSync(mc)) throw new Error(`${mc} is missing: run bash scripts/install-tools.sh --with-mc`);
    // mc reads the endpoint and keys from MC_HOST_<alias>; the keys stay in this child's environment.
    const endpoint = new URL(state.minio.endpoint);
    const mcEnv = {
      ...process.env,
      MC_CONFIG_DIR: path.join(dir, 'mc-config'),
      MC_HOST_bench: `${endpoint.protocol}//${encodeURIComponent(readFileSync(state.secrets.accessKeyFile, 'utf8').trim())}:${encodeURIComponent(readFileSync(state.secrets.secretKeyFile, 'utf8').trim())}@${endpoint.host}`,
    };
    // `mc` runs under bash's `time`, so its own CPU seconds (user + system) are measured alongside its wall time.
    const runMc = (...args: string[]): Cpu => {
      const quoted = [mc, '--quiet', '--no-color', ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
      const out = execFileSync('bash', ['-c', `TIMEFORMAT='%U %S'; { time ${quoted} >/dev/null; } 2>&1`], {
        env: mcEnv,
        encoding: 'utf8',
      });
      const [user, system] = (out.trim().split('\n').pop() ?? '').split(' ').map(Number);
      if (!Number.isFinite(user) || !Number.isFinite(system)) throw new Error(`mc ${args.join(' ')}: ${out.trim()}`);
      return { user: user as number, system: system as number };
    };
    // The server's CPU seconds, from the kernel's account of the MinIO process this benchmark started (read only).
    const minioPid = state.minio.pid;
    if (minioPid === null) throw new Error('the dev stack reports no MinIO pid');
    const serverCpu = (): number => {
      const fields = (readFileSync(`/proc/${minioPid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
      return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    };

    const total = {
      copy: new Side(),
      mcUp: new Side(),
      oursUp: new Side(),
      verify: new Side(),
      mcDown: new Side(),
      oursDown: new Side(),
      sha: new Side(),
      hashOnly: new Side(),
    };
    let peakGrowth = 0;
    for (let round = 0; round < rounds; round++) {
      // Who goes first alternates: in probes on this VM the second download of a round could pay 1.4–3 CPU-seconds
      // of kernel time per GiB where the first paid under 1, and that happened to mc too when it came second
      // (docs/performance.md).
      const oursFirst = round % 2 === 1;
      const copy = await measured(serverCpu, async () => {
        const target = path.join(dir, `copy-${round}.bin`);
        await pipeline(createReadStream(source), createWriteStream(target));
        rmSync(target);
      });
      const mcUpRun = () => measured(serverCpu, async () => runMc('cp', source, `bench/bench/mc/weights-${round}.bin`));
      const oursUpRun = () =>
        measured(serverCpu, async () =>
          store.commitCheckpoint({
            runId: 'bench',
            stage: 'stage-2',
            step: round,
            files: [{ path: 'weights.bin', localPath: source }],
            configDigest: '0'.repeat(64),
            parent: null,
            producer: { name: 'bench', version: '1' },
          }),
        );
      const [mcUp, ours] = await bothInOrder(oursFirst, mcUpRun, oursUpRun);
      const { ref, manifest } = ours.value;
      const verify = await measured(serverCpu, async () => {
        const verdict = await store.verify(ref.prefix, manifest, 'deep');
        if (!verdict.ok) throw new Error(`verify failed: ${verdict.reason}`);
      });
      // The work `mc cp` does not do and our download must (the manifest's sha256), measured alone: read + hash.
      const sha = await measured(serverCpu, async () => {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(source, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
        if (hash.digest('hex') !== manifest.files[0]?.sha256) throw new Error('sha256 of the source differs from the manifest');
      });
      // The hash's own cost, on bytes already in memory (what a verifying download adds to mc's work): sha256 of
      // the file's size, one 16 MiB block at a time, on this thread.
      const hashOnly = await measured(serverCpu, async () => {
        const block = Buffer.alloc(16 * MiB, round);
        const hash = createHash('sha256');
        for (let done = 0; done < sizeMiB * MiB; done += block.length) hash.update(block);
        hash.digest();
      });
      const mcTarget = path.join(dir, `mc-down-${round}.bin`);
      const downDir = path.join(dir, `down-${round}`);
      const mcDownRun = () => measured(serverCpu, async () => runMc('cp', `bench/bench/mc/weights-${round}.bin`, mcTarget));
      const oursDownRun = () => measured(serverCpu, async () => store.downloadCheckpoint(ref, downDir));
      const [mcDown, oursDown] = await bothInOrder(oursFirst, mcDownRun, oursDownRun);
      // Both downloads deleted after both ran, so neither starts right after a gigabyte was freed.
      rmSync(mcTarget);
      rmSync(downDir, { recursive: true, force: true });
      total.copy.add(copy);
      total.mcUp.add(mcUp, mcUp.value);
      total.oursUp.add(ours);
      total.verify.add(verify);
      total.mcDown.add(mcDown, mcDown.value);
      total.oursDown.add(oursDown);
      total.sha.add(sha);
      total.hashOnly.add(hashOnly);
      peakGrowth = Math.max(peakGrowth, ours.peakGrowthMiB, verify.peakGrowthMiB, oursDown.peakGrowthMiB);
      const mibs = (x: { seconds: number }) => `${(sizeMiB / x.seconds).toFixed(1)} MiB/s`;
      console.log(
        `round ${round + 1} (${oursFirst ? 'ours first' : 'mc first'}): copy ${mibs(copy)}; up: mc ${mibs(mcUp)}, ours ${mibs(ours)}; ` +
          `deep verify ${mibs(verify)}; down: mc ${mibs(mcDown)}, ours ${mibs(oursDown)}; ` +
          `peak RSS growth ${Math.max(ours.peakGrowthMiB, oursDown.peakGrowthMiB).toFixed(0)} MiB`,
      );
    }
    const gib = (sizeMiB * rounds) / 1024;
    const rate = (side: Side) => (sizeMiB * rounds) / side.seconds;
    /** "client 1.23 + server 0.45 = 1.68 CPU-s per GiB, 1.80 of 2 cores busy" */
    const cpu = (side: Side) =>
      `client ${(side.client / gib).toFixed(2)} (kernel ${(side.clientSystem / gib).toFixed(2)}) + server ${(side.server / gib).toFixed(2)} ` +
      `= ${(side.cpu / gib).toFixed(2)} CPU-s per GiB, ${(side.cpu / side.seconds).toFixed(2)} of ${cores} cores busy`;
    console.log(`plain copy: ${rate(total.copy).toFixed(1)} MiB/s (the disk alone)`);
    console.log(`mc cp up: ${rate(total.mcUp).toFixed(1)} MiB/s; ${cpu(total.mcUp)}`);
    console.log(`ours up (upload, sha256, manifest last): ${rate(total.oursUp).toFixed(1)} MiB/s; ${cpu(total.oursUp)}`);
    console.log(`mc cp down: ${rate(total.mcDown).toFixed(1)} MiB/s; ${cpu(total.mcDown)}`);
    console.log(
      `ours down (ranged parts, sha256 vs manifest, rename): ${rate(total.oursDown).toFixed(1)} MiB/s; ${cpu(total.oursDown)}`,
    );
    console.log(`deep verify (re-read, re-hash): ${rate(total.verify).toFixed(1)} MiB/s; ${cpu(total.verify)}`);
    // The measured limits. Where both transfers keep every core busy, throughput is set by CPU-seconds per GiB, and
    // the ratio of those predicts the ratio of throughputs. mc checks nothing on the way down; a client that did mc's
    // work plus the manifest's sha256 (measured alone: read + hash) would need mc's CPU plus that.
    const shaCpu = total.sha.client / gib;
    const hashCpu = total.hashOnly.client / gib;
    const verifyingBound = total.mcDown.cpu / (total.mcDown.cpu + total.hashOnly.client);
    console.log(
      `sha256 alone (read + hash, one core): ${rate(total.sha).toFixed(1)} MiB/s, ${shaCpu.toFixed(2)} CPU-s per GiB; ` +
        `the hash alone on bytes in memory: ${hashCpu.toFixed(2)} CPU-s per GiB; ` +
        `mc cp down then sha256: ${((sizeMiB * rounds) / (total.mcDown.seconds + total.sha.seconds)).toFixed(1)} MiB/s`,
    );
    console.log(
      `limit, down: CPU per GiB mc/ours = ${(total.mcDown.cpu / total.oursDown.cpu).toFixed(3)} (download_vs_mc predicted by CPU); ` +
        `a client doing mc's work plus sha256 needs ${((total.mcDown.cpu + total.hashOnly.client) / gib).toFixed(2)} CPU-s per GiB, ` +
        `so download_vs_mc ≤ ${verifyingBound.toFixed(3)} for any verifying client with the cores busy; ours reaches ` +
        `${(total.mcDown.seconds / total.oursDown.seconds / verifyingBound).toFixed(3)} of that`,
    );
    console.log(
      `limit, up: CPU per GiB mc/ours = ${(total.mcUp.cpu / total.oursUp.cpu).toFixed(3)} (upload_vs_mc predicted by CPU); ` +
        `the server's share of it: mc ${(total.mcUp.server / total.mcUp.cpu).toFixed(2)}, ours ${(total.oursUp.server / total.oursUp.cpu).toFixed(2)}`,
    );
    console.log(
      `upload_vs_mc=${(total.mcUp.seconds / total.oursUp.seconds).toFixed(3)} download_vs_mc=${(total.mcDown.seconds / total.oursDown.seconds).toFixed(3)} ` +
        `upload_ratio_vs_copy=${(total.copy.seconds / total.oursUp.seconds).toFixed(3)} peak_rss_growth_mib=${Math.round(peakGrowth)}`,
    );
  } finally {
    await stackDown(stateDir);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

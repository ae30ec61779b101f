/**
 * `npm run bench:checkpoint`: a 1 GiB checkpoint file against a real MinIO, side by side in one run with the best
 * peer, MinIO's own client `mc` (same file, same server), and with a plain streamed file copy on the same disk:
 *   - up: our commit (upload, sha256, manifest last) vs `mc cp` to the same server;
 *   - down: our resume download (ranged parts in flight, sha256 checked against the manifest, rename) vs `mc cp` back;
 *   - our deep verify (re-read and re-hash), reported on its own;
 *   - the limit: sha256 of the file alone, and `mc cp` down followed by it (mc verifies nothing; our download must).
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

/** Samples RSS every 20 ms while `fn` runs; returns its duration and the peak RSS growth over the start. */
async function measured<T>(fn: () => Promise<T>): Promise<{ seconds: number; peakGrowthMiB: number; value: T }> {
  // Every phase starts with no dirty pages left by the one before: each writes 1 GiB, and a writer that starts with
  // gigabytes still dirty can be throttled by the kernel's writeback of the previous phases' bytes.
  execFileSync('sync');
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const t0 = process.hrtime.bigint();
  try {
    const value = await fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    peak = Math.max(peak, process.memoryUsage().rss);
    return { seconds, peakGrowthMiB: (peak - base) / MiB, value };
  } finally {
    clearInterval(timer);
  }
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
    const runMc = (...args: string[]) =>
      execFileSync(mc, ['--quiet', '--no-color', ...args], { env: mcEnv, stdio: ['ignore', 'ignore', 'inherit'] });

    const t = { copy: 0, mcUp: 0, oursUp: 0, verify: 0, mcDown: 0, oursDown: 0, sha: 0 };
    let peakGrowth = 0;
    const rate = (seconds: number) => (sizeMiB * rounds) / seconds;
    for (let round = 0; round < rounds; round++) {
      const copy = await measured(async () => {
        const target = path.join(dir, `copy-${round}.bin`);
        await pipeline(createReadStream(source), createWriteStream(target));
        rmSync(target);
      });
      const mcUp = await measured(async () => runMc('cp', source, `bench/bench/mc/weights-${round}.bin`));
      const ours = await measured(async () =>
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
      const { ref, manifest } = ours.value;
      const verify = await measured(async () => {
        const verdict = await store.verify(ref.prefix, manifest, 'deep');
        if (!verdict.ok) throw new Error(`verify failed: ${verdict.reason}`);
      });
      // The work `mc cp` does not do and our download must (the manifest's sha256), measured alone: read + hash.
      const sha = await measured(async () => {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(source, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
        if (hash.digest('hex') !== manifest.files[0]?.sha256) throw new Error('sha256 of the source differs from the manifest');
      });
      const mcTarget = path.join(dir, `mc-down-${round}.bin`);
      const mcDown = await measured(async () => runMc('cp', `bench/bench/mc/weights-${round}.bin`, mcTarget));
      const downDir = path.join(dir, `down-${round}`);
      const oursDown = await measured(async () => store.downloadCheckpoint(ref, downDir));
      // Both downloads deleted after both ran: deleting a gigabyte (this disk is mounted with `discard`) just before
      // one of them would slow that one alone.
      rmSync(mcTarget);
      rmSync(downDir, { recursive: true, force: true });
      t.copy += copy.seconds;
      t.mcUp += mcUp.seconds;
      t.oursUp += ours.seconds;
      t.verify += verify.seconds;
      t.mcDown += mcDown.seconds;
      t.oursDown += oursDown.seconds;
      t.sha += sha.seconds;
      peakGrowth = Math.max(peakGrowth, ours.peakGrowthMiB, verify.peakGrowthMiB, oursDown.peakGrowthMiB);
      const mibs = (x: { seconds: number }) => `${(sizeMiB / x.seconds).toFixed(1)} MiB/s`;
      console.log(
        `round ${round + 1}: copy ${mibs(copy)}; up: mc ${mibs(mcUp)}, ours ${mibs(ours)}; deep verify ${mibs(verify)}; ` +
          `down: mc ${mibs(mcDown)}, ours ${mibs(oursDown)}; peak RSS growth ${Math.max(ours.peakGrowthMiB, oursDown.peakGrowthMiB).toFixed(0)} MiB`,
      );
    }
    console.log(`plain copy: ${rate(t.copy).toFixed(1)} MiB/s (the disk alone)`);
    console.log(
      `mc cp up: ${rate(t.mcUp).toFixed(1)} MiB/s; ours (upload, sha256, manifest last): ${rate(t.oursUp).toFixed(1)} MiB/s`,
    );
    console.log(
      `mc cp down: ${rate(t.mcDown).toFixed(1)} MiB/s; ours (ranged parts, sha256 vs manifest, rename): ${rate(t.oursDown).toFixed(1)} MiB/s`,
    );
    console.log(`deep verify (re-read, re-hash): ${rate(t.verify).toFixed(1)} MiB/s`);
    // A measured limit for download_vs_mc: mc checks nothing, our download must hash every byte, and sha256 is one
    // sequential stream per file: the download can not run faster than sha256 alone on one core of this machine.
    const shaRate = rate(t.sha);
    console.log(
      `sha256 alone (read + hash, one core): ${shaRate.toFixed(1)} MiB/s, so download_vs_mc ≤ ${(shaRate / rate(t.mcDown)).toFixed(3)} ` +
        `here; ours reaches ${(rate(t.oursDown) / shaRate).toFixed(3)} of sha256 alone; mc cp down then sha256: ` +
        `${rate(t.mcDown + t.sha).toFixed(1)} MiB/s, ours vs that: ${((t.mcDown + t.sha) / t.oursDown).toFixed(3)}`,
    );
    console.log(
      `upload_vs_mc=${(t.mcUp / t.oursUp).toFixed(3)} download_vs_mc=${(t.mcDown / t.oursDown).toFixed(3)} ` +
        `upload_ratio_vs_copy=${(t.copy / t.oursUp).toFixed(3)} peak_rss_growth_mib=${Math.round(peakGrowth)}`,
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

/**
 * `npm run bench:checkpoint`: commit + deep-verify a 1 GiB checkpoint file on a real MinIO, side by side with a
 * plain streamed file copy on the same disk, in one run. Prints throughputs and, last,
 * `upload_ratio=<our upload+verify throughput / plain copy throughput> peak_rss_growth_mib=<n>`.
 *
 * Env: REALGEN_BENCH_SIZE_MIB (default 1024), REALGEN_BENCH_ROUNDS (default 2).
 */
import { randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
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
      { accessKey: readFileSync(state.secrets.accessKeyFile, 'utf8').trim(), secretKey: readFileSync(state.secrets.secretKeyFile, 'utf8').trim() },
    );
    const store = new CheckpointStore({ client, bucket: 'bench' });
    await store.ensureBucket();
    const source = path.join(dir, 'weights.bin');
    await writeTestFile(source, sizeMiB * MiB);
    console.log(`file: ${sizeMiB} MiB at ${source}; MinIO data and the copy target on the same disk`);

    const copyTimes: number[] = [];
    const oursTimes: number[] = [];
    const uploadTimes: number[] = [];
    let peakGrowth = 0;
    for (let round = 0; round < rounds; round++) {
      const copy = await measured(async () => {
        const target = path.join(dir, `copy-${round}.bin`);
        await pipeline(createReadStream(source), createWriteStream(target));
        rmSync(target);
      });
      copyTimes.push(copy.seconds);
      let uploadSeconds = 0;
      const ours = await measured(async () => {
        const t0 = process.hrtime.bigint();
        const { ref, manifest } = await store.commitCheckpoint({
          runId: 'bench',
          stage: 'stage-2',
          step: round,
          files: [{ path: 'weights.bin', localPath: source }],
          configDigest: '0'.repeat(64),
          parent: null,
          producer: { name: 'bench', version: '1' },
        });
        uploadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const verdict = await store.verify(ref.prefix, manifest, 'deep');
        if (!verdict.ok) throw new Error(`verify failed: ${verdict.reason}`);
      });
      oursTimes.push(ours.seconds);
      uploadTimes.push(uploadSeconds);
      peakGrowth = Math.max(peakGrowth, ours.peakGrowthMiB);
      console.log(
        `round ${round + 1}: plain copy ${(sizeMiB / copy.seconds).toFixed(1)} MiB/s; ` +
          `upload ${(sizeMiB / uploadSeconds).toFixed(1)} MiB/s; upload+verify ${(sizeMiB / ours.seconds).toFixed(1)} MiB/s ` +
          `(${ours.seconds.toFixed(1)} s, peak RSS growth ${ours.peakGrowthMiB.toFixed(0)} MiB)`,
      );
    }
    const copyRate = (sizeMiB * rounds) / copyTimes.reduce((a, b) => a + b, 0);
    const oursRate = (sizeMiB * rounds) / oursTimes.reduce((a, b) => a + b, 0);
    console.log(`plain copy: ${copyRate.toFixed(1)} MiB/s`);
    const uploadRate = (sizeMiB * rounds) / uploadTimes.reduce((a, b) => a + b, 0);
    console.log(`upload (streamed, sha256 while streaming, manifest last): ${uploadRate.toFixed(1)} MiB/s`);
    console.log(`upload+verify (upload, then deep verify re-reads and re-hashes): ${oursRate.toFixed(1)} MiB/s`);
    console.log(`upload_ratio=${(oursRate / copyRate).toFixed(3)} peak_rss_growth_mib=${Math.round(peakGrowth)}`);
  } finally {
    await stackDown(stateDir);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

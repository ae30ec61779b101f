/**
 * `realgen checkpoint ls|get|export`: a run's checkpoints, a verified download (every file's size and sha256 against
 * the manifest, infra/s3/checkpoint-store.ts), and an export as safetensors (the mini adapter/policy converted from
 * their JSON weights; the native trainers' LoRA, already safetensors, checked and copied in the peft layout).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { checkpointPrefix, MANIFEST_FILE, type CheckpointRef } from '../contracts/checkpoint-manifest';
import { stageKey } from '../contracts/ids';
import { miniPartsAsTensors } from '../domain/grpo/export-tensors';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import { decodeSafetensors, encodeSafetensors } from '../lib/safetensors';
import { withContext } from './context';
import { addConfigOption, configFileOf } from './options';
import { makeTable } from './terminal';

export interface CheckpointRow {
  stage: string;
  step: number;
  prefix: string;
  /** `committed`, `half-written` (no manifest) or `invalid: …`. */
  state: string;
  files: number | null;
  bytes: number | null;
  createdAt: string | null;
}

async function listRun(store: CheckpointStore, runId: string, stages: readonly number[]): Promise<CheckpointRow[]> {
  const rows: CheckpointRow[] = [];
  for (const n of stages) {
    const stage = stageKey(n);
    for (const step of await store.listCheckpointSteps(runId, stage)) {
      const prefix = checkpointPrefix(runId, stage, step);
      const found = await store.tryReadManifest(prefix);
      const base = { stage, step, prefix };
      if (found === null) rows.push({ ...base, state: 'half-written', files: null, bytes: null, createdAt: null });
      else if ('invalid' in found)
        rows.push({ ...base, state: `invalid: ${found.invalid}`, files: null, bytes: null, createdAt: null });
      else {
        const m = found.manifest;
        rows.push({
          ...base,
          state: 'committed',
          files: m.files.length,
          bytes: m.files.reduce((a, f) => a + f.size, 0),
          createdAt: m.createdAt,
        });
      }
    }
  }
  return rows;
}

/** The reference of the committed checkpoint at `prefix` (a trailing slash is added when missing). */
export async function refOfPrefix(store: CheckpointStore, prefix: string): Promise<CheckpointRef> {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const { manifest, sha256 } = await store.readManifest(p);
  return {
    bucket: store.bucket,
    runId: manifest.runId,
    stage: manifest.stage,
    step: manifest.step,
    prefix: p,
    manifestSha256: sha256,
  };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Exports a downloaded checkpoint folder as safetensors into `out`; returns the files written. */
async function exportSafetensors(dir: string, ref: CheckpointRef, out: string): Promise<string[]> {
  await mkdir(out, { recursive: true });
  const name = `${ref.runId}-${ref.stage}-${ref.step}`;
  const written: string[] = [];
  // Native trainers (trainers/torch): peft's layout, already safetensors. Checked by decoding, then copied.
  for (const part of ['lora', 'live']) {
    const src = path.join(dir, part, 'adapter_model.safetensors');
    if (!(await exists(src))) continue;
    const { tensors } = decodeSafetensors(await readFile(src));
    if (Object.keys(tensors).length === 0) throw new Error(`${ref.prefix}${part}/adapter_model.safetensors holds no tensors`);
    const target = path.join(out, `${name}-${part}`, 'adapter_model.safetensors');
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(src, target);
    written.push(target);
    const cfg = path.join(dir, part, 'adapter_config.json');
    if (await exists(cfg)) await copyFile(cfg, path.join(out, `${name}-${part}`, 'adapter_config.json'));
    else if (await exists(path.join(dir, 'lora', 'adapter_config.json'))) {
      await copyFile(path.join(dir, 'lora', 'adapter_config.json'), path.join(out, `${name}-${part}`, 'adapter_config.json'));
    }
  }
  if (written.length > 0) return written;
  // realgen-mini: the adapter and policy JSON weights, converted.
  const readIf = async (file: string) =>
    (await exists(path.join(dir, file))) ? (JSON.parse(await readFile(path.join(dir, file), 'utf8')) as unknown) : undefined;
  const adapter = await readIf('adapter.json');
  const policy = await readIf('policy.json');
  if (adapter === undefined && policy === undefined) {
    throw new Error(
      `${ref.prefix}: neither lora/adapter_model.safetensors (native trainer) nor adapter.json/policy.json (realgen-mini); nothing to export`,
    );
  }
  const { tensors, metadata } = miniPartsAsTensors({
    ...(adapter !== undefined ? { adapter } : {}),
    ...(policy !== undefined ? { policy } : {}),
  });
  const target = path.join(out, `${name}.safetensors`);
  await writeFile(
    target,
    encodeSafetensors(tensors, { ...metadata, checkpoint: ref.prefix, manifestSha256: ref.manifestSha256 }),
  );
  return [target];
}

export function registerCheckpointCommands(program: Command): void {
  const checkpoint = program.command('checkpoint').description("a run's checkpoints: list, verified download, export");

  addConfigOption(
    checkpoint.command('ls').description('the checkpoints of a run, every stage, newest first').argument('<run>', 'run id'),
  )
    .option('--json', 'print a JSON array')
    .action(async (runId: string, opts: { config?: string; json?: boolean }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const rows = await listRun(
          await ctx.store(),
          runId,
          ctx.config.stages.map((s) => s.stage),
        );
        if (opts.json) {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        if (rows.length === 0) {
          console.log(`run ${runId}: no checkpoints in s3://${(await ctx.store()).bucket}/runs/${runId}/`);
          return;
        }
        const t = makeTable(['stage', 'step', 'state', 'files', 'bytes', 'created', 'prefix']);
        for (const r of rows)
          t.push([r.stage, String(r.step), r.state, r.files ?? '-', r.bytes ?? '-', r.createdAt ?? '-', r.prefix]);
        console.log(t.toString());
      });
    });

  addConfigOption(
    checkpoint
      .command('get')
      .description('download a committed checkpoint, each file verified against its manifest')
      .argument('<prefix>', 'checkpoint prefix'),
  )
    .requiredOption('--out <dir>', 'folder to write the files into')
    .action(async (prefix: string, opts: { config?: string; out: string }) => {
      await withContext(configFileOf(opts.config), async (ctx) => {
        const store = await ctx.store();
        const ref = await refOfPrefix(store, prefix);
        const out = path.resolve(opts.out);
        const manifest = await store.downloadCheckpoint(ref, out);
        await writeFile(path.join(out, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
        const bytes = manifest.files.reduce((a, f) => a + f.size, 0);
        console.log(
          `${ref.prefix} → ${out}: ${manifest.files.length} files, ${bytes} bytes, every sha256 verified against the manifest`,
        );
      });
    });

  addConfigOption(
    checkpoint
      .command('export')
      .description("export a checkpoint as safetensors (realgen-mini adapter/policy, or the native trainers' LoRA)")
      .argument('<prefix>', 'checkpoint prefix'),
  )
    .requiredOption('--format <format>', 'only safetensors')
    .option('--out <dir>', 'output folder', '.')
    .action(async (prefix: string, opts: { config?: string; format: string; out: string }) => {
      if (opts.format !== 'safetensors') throw new Error(`--format: expected safetensors, got ${JSON.stringify(opts.format)}`);
      await withContext(configFileOf(opts.config), async (ctx) => {
        const store = await ctx.store();
        const ref = await refOfPrefix(store, prefix);
        const tmp = await mkdtemp(path.join(os.tmpdir(), 'realgen-export-'));
        try {
          await store.downloadCheckpoint(ref, tmp);
          for (const file of await exportSafetensors(tmp, ref, path.resolve(opts.out))) {
            const { tensors } = decodeSafetensors(await readFile(file));
            const summary = Object.entries(tensors).map(([n, t]) => `${n} ${t.dtype}[${t.shape.join('×')}]`);
            console.log(`${file}: ${summary.length} tensors${summary.length <= 6 ? ` (${summary.join(', ')})` : ''}`);
          }
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      });
    });
}

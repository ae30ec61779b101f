/**
 * Generation backend: an external generator command (EvalSource `command`). The shard's prompts are written to files,
 * the command runs in its own process group with heartbeats, and the images it wrote to `{outDir}` are uploaded.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { realgenFailure } from '../../../contracts/failures';
import { spawnProcessGroup } from '../../../infra/process/process-group';
import type { EvaluationContext } from '../evaluation-context';
import { listKeys, putBytes } from '../layout';
import type { ShardGenerator } from './shard-generator';
import { awaitGroup } from './supervised-group';

const IMAGE_EXTS = ['png', 'jpg', 'jpeg', 'webp'] as const;
const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' };

function substitute(arg: string, values: Record<string, string>): string {
  return arg.replace(/\{(prompts|promptsJsonl|outDir|seed)\}/g, (_, k: string) => values[k] ?? '');
}

/**
 * Runs the command to completion. Cancellation stops its whole process group (SIGTERM, SIGKILL after `graceMs`);
 * whatever it leaves running after it ends is killed too.
 */
async function runCommand(command: string, args: string[], cwd: string, shard: number, graceMs: number): Promise<void> {
  let group;
  try {
    group = await spawnProcessGroup(command, args, { cwd });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw realgenFailure('ConfigInvalid', `generator command ${command} not found`);
    throw err;
  }
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  group.child.stdout.on('data', keep);
  group.child.stderr.on('data', keep);
  const code = await awaitGroup(group, graceMs, (seconds) => ({ shard, command: 'running', seconds }));
  if (code !== 0) throw new Error(`generator command exited with ${code}: ${tail.trim().slice(-1500)}`);
}

/** Writes the prompt files, runs the command with heartbeats, uploads what it wrote; reuses images already uploaded. */
export function externalCommandGenerator({ store, deps }: EvaluationContext, command: string, args: string[]): ShardGenerator {
  return async ({ input, items, imagesPrefix }) => {
    const uploaded = new Map<string, string>();
    for (const key of await listKeys(store, imagesPrefix)) {
      const m = /^(\d{5})\.(png|jpg|jpeg|webp)$/.exec(key.slice(imagesPrefix.length));
      if (m?.[1]) uploaded.set(m[1], key);
    }
    const todo = items.filter((it) => !uploaded.has(it.id));
    if (todo.length > 0) {
      await mkdir(deps.workDir, { recursive: true });
      const dir = await mkdtemp(path.join(deps.workDir, `eval-cmd-${input.shard}-`));
      try {
        const outDir = path.join(dir, 'out');
        await mkdir(outDir);
        const prompts = path.join(dir, 'prompts.txt');
        const promptsJsonl = path.join(dir, 'prompts.jsonl');
        await writeFile(prompts, `${todo.map((it) => it.prompt.replace(/[\r\n]+/g, ' ')).join('\n')}\n`);
        const records = todo.map(({ id, index, category, prompt, longPrompt }) =>
          JSON.stringify({ id, index, category, prompt, longPrompt }),
        );
        await writeFile(promptsJsonl, `${records.join('\n')}\n`);
        const values = { prompts, promptsJsonl, outDir, seed: String(input.spec.config.seed) };
        // The same share of the GPU worker's shutdown grace as the external trainer adapter gives its upstream.
        const graceMs = Math.max(1, Math.floor(input.spec.config.workers.gpu.shutdownGraceSeconds * 0.6)) * 1000;
        await runCommand(
          command,
          args.map((a) => substitute(a, values)),
          dir,
          input.shard,
          graceMs,
        );
        deps.onGeneratorCall?.(todo.length);
        const written = new Set(await readdir(outDir));
        const missing: string[] = [];
        for (const it of todo) {
          const ext = IMAGE_EXTS.find((e) => written.has(`${it.id}.${e}`));
          if (ext === undefined) {
            missing.push(it.id);
            continue;
          }
          const key = `${imagesPrefix}${it.id}.${ext}`;
          await putBytes(
            store,
            key,
            await readFile(path.join(outDir, `${it.id}.${ext}`)),
            CONTENT_TYPES[ext] ?? 'application/octet-stream',
          );
          uploaded.set(it.id, key);
        }
        if (missing.length > 0) {
          throw new Error(
            `generator command wrote no image for ${missing.length} item(s): ${missing.join(', ')} (expected <outDir>/<id>.png|jpg|webp)`,
          );
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    return items.map((it) => ({ id: it.id, category: it.category, key: uploaded.get(it.id) ?? '', usedPrompt: it.prompt }));
  };
}

/** `realgen mini sample|score`: a quick look at the realgen-mini generator and detectors. */
import { writeFileSync } from 'node:fs';
import { MAX_IMAGE_FILE_BYTES, readBoundedFile } from '../infra/bounded-file';
import type { Command } from 'commander';
import sharp from 'sharp';
import { loadConfig } from '../configs/load';
import { encodePng } from '../infra/image/decode';
import { sampleFlow, toRgb } from '../domain/mini/flow-sampler';
import { loadEvaluationDetectors, loadGenerator } from '../infra/mini/mini-world';
import { Rng } from '../lib/random';
import { registerMiniProbeCommand } from './mini-probe-command';
import { addConfigOption, configFileOf, intOption } from './options';
import { makeTable } from './terminal';

/** One file's scores: P(real) per detector (null where the detector could not score it, with the reason). */
export interface FileScores {
  file: string;
  scores: Record<string, number | null>;
  errors?: Record<string, string>;
}

/** Scores files with every evaluation detector of the config, the held-out one included. */
export async function scoreFiles(configFile: string, files: string[]): Promise<FileScores[]> {
  const loaded = loadConfig(configFile);
  // Every file is checked (regular, size-capped) before the first byte is read or a model is loaded.
  const buffers = files.map((f) => {
    try {
      return readBoundedFile(f, MAX_IMAGE_FILE_BYTES);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(`${f}: cannot be read (${e.code ?? e.message})`);
    }
  });
  const detectors = await loadEvaluationDetectors(loaded);
  try {
    const rows: FileScores[] = files.map((file) => ({ file, scores: {} }));
    for (const d of detectors) {
      const results = await d.scoreEncoded(buffers);
      results.forEach((r, i) => {
        const row = rows[i]!;
        if (r.ok) row.scores[d.name] = r.pReal;
        else {
          row.scores[d.name] = null;
          (row.errors ??= {})[d.name] = r.error;
        }
      });
    }
    return rows;
  } finally {
    await Promise.all(detectors.map((d) => d.close()));
  }
}

export function registerMiniCommands(program: Command): void {
  const mini = program.command('mini').description('the realgen-mini models (CPU)');

  addConfigOption(mini.command('sample'), 'run config naming the models')
    .description('generate one image with the realgen-mini generator (Euler ODE)')
    .requiredOption('--prompt <text>', 'the prompt')
    .option(
      '--category <name>',
      'RealBench category token (animals, buildings, dishes, indoor_view, outdoor_view, people, plants)',
    )
    .option('--seed <n>', 'seed (same seed ⇒ same bytes)', intOption('--seed', 0), 0)
    .option('--steps <n>', "sampling steps (default: the generator's)", intOption('--steps', 1))
    .option('--scale <n>', 'nearest-neighbour upscale of the saved PNG, for viewing', intOption('--scale', 1), 1)
    .requiredOption('--out <file>', 'PNG to write')
    .action(
      async (opts: {
        prompt: string;
        category?: string;
        seed: number;
        steps?: number;
        scale: number;
        out: string;
        config?: string;
      }) => {
        const { generator, tokenizer } = await loadGenerator(loadConfig(configFileOf(opts.config)));
        try {
          const r = await sampleFlow(generator, tokenizer, [{ text: opts.prompt, category: opts.category ?? null }], {
            rng: Rng.fromSeed(opts.seed, 'mini-sample'),
            ...(opts.steps ? { steps: opts.steps } : {}),
          });
          let png = await encodePng(toRgb(r.images[0]!, generator.spec.size));
          if (opts.scale > 1) {
            const s = generator.spec.size * opts.scale;
            png = await sharp(png)
              .resize(s, s, { kernel: 'nearest' })
              .png({ compressionLevel: 9, adaptiveFiltering: false })
              .toBuffer();
          }
          writeFileSync(opts.out, png);
          console.log(
            `wrote ${opts.out} (${generator.spec.size * opts.scale}×${generator.spec.size * opts.scale}, seed ${opts.seed})`,
          );
        } finally {
          await generator.close();
        }
      },
    );

  addConfigOption(mini.command('score'), 'run config naming the detectors')
    .description('P(real) of image files under every detector of the config, the held-out one included')
    .argument('<files...>', 'JPEG, PNG or WebP files (sniffed by content)')
    .option('--json', 'print a JSON array of {"file", "scores": {"<detector>": P(real)}}')
    .action(async (files: string[], opts: { json?: boolean; config?: string }) => {
      const rows = await scoreFiles(configFileOf(opts.config), files);
      if (opts.json) {
        console.log(JSON.stringify(rows, null, 2));
      } else {
        const names = Object.keys(rows[0]?.scores ?? {});
        const table = makeTable(['file', ...names]);
        for (const r of rows)
          table.push([
            r.file,
            ...names.map((n) => (r.scores[n] === null ? `error: ${r.errors?.[n] ?? ''}` : (r.scores[n] ?? 0).toFixed(4))),
          ]);
        console.log(table.toString());
      }
      if (rows.some((r) => r.errors)) process.exitCode = 1;
    });

  registerMiniProbeCommand(mini);
}

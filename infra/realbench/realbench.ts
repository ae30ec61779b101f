/**
 * RealBench on disk: a folder holding `realbench.jsonl` (one row per real photo) and the photos under `images/`
 * (layout in ../shared/realbench-data/README.md), and the fixed suites evaluations run on.
 *
 * Loading validates everything before anything runs and reports every offender at once, with its line number, so a
 * broken copy is fixed in one pass rather than one error per evaluation attempt. The digest (sha256 of the jsonl
 * bytes) goes into evaluation records so results from different copies of the benchmark are never mixed silently.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { realgenFailure } from '../../contracts/failures';
import { objectKeyProblem } from '../../contracts/object-key';

import { REALBENCH_CATEGORIES, REALBENCH_SUITES, type RealBenchCategory, type RealBenchSuite } from '../../contracts/realbench';

export { REALBENCH_CATEGORIES, REALBENCH_SUITES, type RealBenchCategory, type RealBenchSuite } from '../../contracts/realbench';

/** File name of the row list inside a RealBench folder. */
export const REALBENCH_JSONL = 'realbench.jsonl';
/** Smoke suite size per category. */
export const SMOKE_PER_CATEGORY = 2;

/** One benchmark item. */
export interface RealBenchItem {
  /** The 5-digit zero-padded index ("00042"); also the file stem of generated images. */
  id: string;
  index: number;
  /** Path of the real photo relative to the RealBench folder, e.g. "images/00042.jpg". */
  file: string;
  category: RealBenchCategory;
  /** The short caption (the benchmark prompt). */
  prompt: string;
  /** The LLM-rewritten long caption. */
  longPrompt: string;
}

/** A loaded RealBench. */
export interface RealBench {
  /** All items, ascending by index. */
  items: RealBenchItem[];
  /** sha256 (hex) of the realbench.jsonl bytes. */
  digest: string;
}

/**
 * The held-out split: index % 10 === 0 (105 of 1041 items). The realgen-mini models were never trained on these
 * prompts, so this rule is fixed; changing it would silently leak training prompts into evaluations.
 */
export function isHeldoutIndex(index: number): boolean {
  return Number.isInteger(index) && index >= 0 && index % 10 === 0;
}

/** The 5-digit id of an index (0 → "00000"). */
export function realBenchId(index: number): string {
  return String(index).padStart(5, '0');
}

const nonEmpty = z.string().refine((s) => s.trim().length > 0, { error: 'expected a non-empty string' });
const positiveInt = z.int().positive();

/** One jsonl row as written upstream. Unknown keys (original_width, ...) are allowed and ignored. */
const RowSchema = z.object({
  file: z.string().superRefine((file, ctx) => {
    const problem = objectKeyProblem(file);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: `path ${problem}` });
    else if (!file.startsWith('images/') || file.endsWith('/'))
      ctx.addIssue({ code: 'custom', message: 'expected a file under images/' });
  }),
  index: z.int().min(0).max(99999),
  // Checked separately so the message can say "unknown category" and list the allowed ones.
  category: z.string(),
  prompt: nonEmpty,
  long_prompt: nonEmpty,
  width: positiveInt,
  height: positiveInt,
  actual_format: z.enum(['jpeg', 'png', 'webp']),
});

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(row)'}: ${i.message}`).join('; ');
}

/** Stats files in bounded batches so a 1041-file check neither runs serially nor opens 1041 handles at once. */
async function missingFiles(
  dir: string,
  rows: Array<{ line: number; file: string }>,
): Promise<Array<{ line: number; file: string }>> {
  const missing: Array<{ line: number; file: string }> = [];
  for (let start = 0; start < rows.length; start += 64) {
    const batch = rows.slice(start, start + 64);
    const present = await Promise.all(
      batch.map((r) =>
        stat(path.join(dir, r.file)).then(
          (s) => s.isFile(),
          () => false,
        ),
      ),
    );
    batch.forEach((r, i) => {
      if (!present[i]) missing.push(r);
    });
  }
  return missing;
}

/**
 * Reads and validates the RealBench folder `dir`. Throws a non-retryable `DatasetMissing` failure when the jsonl is
 * missing or empty, or listing every problem found: rows that are not JSON or fail the schema, unknown categories,
 * duplicate indices (hence ids) or files, and image files that do not exist. Each problem names its line (1-based).
 */
export async function loadRealBench(dir: string): Promise<RealBench> {
  const jsonlPath = path.join(dir, REALBENCH_JSONL);
  let bytes: Buffer;
  try {
    bytes = await readFile(jsonlPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw realgenFailure(
      'DatasetMissing',
      `RealBench: cannot read ${jsonlPath} (${code}); expected a folder with ${REALBENCH_JSONL} and images/`,
      {
        dir,
      },
    );
  }
  const digest = createHash('sha256').update(bytes).digest('hex');

  const problems: string[] = [];
  const items: Array<RealBenchItem & { line: number }> = [];
  const firstLineOfIndex = new Map<number, number>();
  const firstLineOfFile = new Map<string, number>();
  const lines = bytes.toString('utf8').split('\n');
  // One trailing newline ends the last row; any other empty line is a bad row.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = i + 1;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      problems.push(
        `line ${line}: bad row: expected one JSON object, got ${text.trim() === '' ? 'an empty line' : 'invalid JSON'}`,
      );
      return;
    }
    const parsed = RowSchema.safeParse(value);
    if (!parsed.success) {
      problems.push(`line ${line}: bad row: ${describeIssues(parsed.error)}`);
      return;
    }
    const row = parsed.data;
    let ok = true;
    if (!(REALBENCH_CATEGORIES as readonly string[]).includes(row.category)) {
      problems.push(
        `line ${line}: unknown category ${JSON.stringify(row.category)}; expected one of ${REALBENCH_CATEGORIES.join(', ')}`,
      );
      ok = false;
    }
    const id = realBenchId(row.index);
    const indexSeen = firstLineOfIndex.get(row.index);
    if (indexSeen !== undefined) {
      problems.push(`line ${line}: duplicate index ${row.index} (id ${id}), first on line ${indexSeen}`);
      ok = false;
    } else {
      firstLineOfIndex.set(row.index, line);
    }
    const fileSeen = firstLineOfFile.get(row.file);
    if (fileSeen !== undefined) {
      problems.push(`line ${line}: duplicate file ${row.file}, first on line ${fileSeen}`);
      ok = false;
    } else {
      firstLineOfFile.set(row.file, line);
    }
    if (ok) {
      items.push({
        line,
        id,
        index: row.index,
        file: row.file,
        category: row.category as RealBenchCategory,
        prompt: row.prompt,
        longPrompt: row.long_prompt,
      });
    }
  });
  if (lines.length === 0) problems.push(`${REALBENCH_JSONL} has no rows`);

  for (const m of await missingFiles(dir, items)) problems.push(`line ${m.line}: missing image file ${m.file}`);

  if (problems.length > 0) {
    problems.sort((a, b) => lineOf(a) - lineOf(b));
    throw realgenFailure(
      'DatasetMissing',
      `RealBench at ${dir}: ${problems.length} problem(s) in ${REALBENCH_JSONL}:\n  ${problems.join('\n  ')}`,
      {
        dir,
        problems,
      },
    );
  }
  items.sort((a, b) => a.index - b.index);
  return { items: items.map(({ line: _line, ...item }) => item), digest };
}

function lineOf(problem: string): number {
  const m = /^line (\d+):/.exec(problem);
  return m ? Number(m[1]) : 0;
}

/**
 * The items of a suite, ascending by index:
 * - full: all items;
 * - heldout: items with `isHeldoutIndex(index)`;
 * - smoke: the first {@link SMOKE_PER_CATEGORY} held-out items of each category by index (14 on RealBench; fewer
 *   when a category has fewer held-out items).
 */
export function selectSuite(items: readonly RealBenchItem[], suite: RealBenchSuite): RealBenchItem[] {
  const sorted = [...items].sort((a, b) => a.index - b.index);
  switch (suite) {
    case 'full':
      return sorted;
    case 'heldout':
      return sorted.filter((item) => isHeldoutIndex(item.index));
    case 'smoke': {
      const taken = new Map<string, number>();
      return sorted.filter((item) => {
        if (!isHeldoutIndex(item.index)) return false;
        const n = taken.get(item.category) ?? 0;
        if (n >= SMOKE_PER_CATEGORY) return false;
        taken.set(item.category, n + 1);
        return true;
      });
    }
    default:
      throw new RangeError(`suite: expected one of ${REALBENCH_SUITES.join(', ')}, got ${JSON.stringify(suite as unknown)}`);
  }
}

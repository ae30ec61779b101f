/** Short durations as operators write them: `45s`, `30m`, `6h`, `1d` (one integer and one unit). */

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of `text`; the error names `what` and the accepted form. */
export function parseShortDuration(text: string, what: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  const n = m ? Number(m[1]) : Number.NaN;
  if (!m || !Number.isSafeInteger(n) || n < 1)
    throw new Error(`${what}: expected a duration like 45s, 30m, 6h or 1d, got ${JSON.stringify(text)}`);
  return n * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** `6h`, `1d`, `90s`: the largest unit that divides `ms` exactly. */
export function formatShortDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  return `${ms}ms`;
}

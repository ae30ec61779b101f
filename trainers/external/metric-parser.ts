/**
 * Metrics and the upstream step from an external trainer's log lines (stdout and stderr), through the stage's
 * `metricPatterns`: regular expressions whose named groups say what they capture.
 *
 *   (?<key>…) + (?<value>…)  a metric named by the `key` text, e.g. `reward_(?<key>\w+)=(?<value>[-0-9.eE+]+)`
 *   (?<step>…)               the upstream step counter (optimizer steps; divided by stepsPerEpoch for ours)
 *   (?<epoch>…)              the upstream epoch (one of our steps each)
 *   any other (?<name>…)     a metric called `name`, e.g. `clipfrac[=:]\s*(?<clipfrac>[-0-9.eE+]+)`
 *
 * Every match in a line counts (a line may hold several metrics). Values that are not finite numbers are
 * ignored. When no pattern captures a step, `global_step=<n>` / `global_step: <n>` is recognised by default.
 */

export interface ParsedLine {
  metrics: Record<string, number>;
  /** Names of the metrics that came from key/value groups (the per-key rewards). */
  keyed: string[];
  upstreamStep: number | null;
  epoch: number | null;
}

const DEFAULT_STEP = /\bglobal_step\s*[=:]?\s*(\d+)\b/;

export class MetricPatternError extends Error {}

export class MetricParser {
  private readonly patterns: RegExp[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.map((p, i) => {
      try {
        return new RegExp(p, 'g');
      } catch (err) {
        throw new MetricPatternError(
          `metricPatterns[${i}]: invalid regular expression ${JSON.stringify(p)} (${(err as Error).message})`,
        );
      }
    });
  }

  /** Parses one line; null when nothing in it matched. */
  parse(line: string): ParsedLine | null {
    const out: ParsedLine = { metrics: {}, keyed: [], upstreamStep: null, epoch: null };
    let matched = false;
    for (const re of this.patterns) {
      re.lastIndex = 0;
      for (const m of line.matchAll(re)) {
        const groups = m.groups ?? {};
        for (const [name, raw] of Object.entries(groups)) {
          if (raw === undefined) continue;
          if (name === 'key' || name === 'value') continue;
          const n = Number(raw);
          if (!Number.isFinite(n)) continue;
          matched = true;
          if (name === 'step') out.upstreamStep = Math.trunc(n);
          else if (name === 'epoch') out.epoch = Math.trunc(n);
          else out.metrics[name] = n;
        }
        if (groups.key !== undefined && groups.value !== undefined) {
          const n = Number(groups.value);
          if (Number.isFinite(n) && groups.key !== '') {
            out.metrics[groups.key] = n;
            if (!out.keyed.includes(groups.key)) out.keyed.push(groups.key);
            matched = true;
          }
        }
      }
    }
    if (out.upstreamStep === null && out.epoch === null) {
      const m = DEFAULT_STEP.exec(line);
      if (m?.[1] !== undefined) {
        out.upstreamStep = Number(m[1]);
        matched = true;
      }
    }
    return matched ? out : null;
  }
}

/**
 * Adds the combined `reward` the stage workflow charts, when the upstream does not log one: its `avg`/`mean`
 * key if present, else the plain mean of the per-key rewards.
 */
export function withCombinedReward(metrics: Record<string, number>, keyed: readonly string[]): Record<string, number> {
  if (typeof metrics.reward === 'number') return metrics;
  for (const k of ['avg', 'mean']) {
    if (keyed.includes(k) && typeof metrics[k] === 'number') return { ...metrics, reward: metrics[k] };
  }
  const values = keyed.map((k) => metrics[k]).filter((v): v is number => typeof v === 'number');
  if (values.length === 0) return metrics;
  return { ...metrics, reward: values.reduce((a, b) => a + b, 0) / values.length };
}

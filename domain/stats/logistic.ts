/**
 * L2-regularised logistic regression fitted by Newton's method (IRLS) — small feature counts only (it solves a
 * d×d system per iteration). Used to fit detector heads in TypeScript.
 */

export interface LogisticModel {
  /** Feature means and standard deviations used to standardise inputs. */
  mean: number[];
  std: number[];
  /** Weights on standardised features. */
  weights: number[];
  bias: number;
  iterations: number;
}

/** Solves A x = b for a small dense symmetric positive-definite A (Cholesky). */
function solveSpd(A: number[][], b: number[]): number[] {
  const n = b.length;
  const L = A.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i]![j]!;
      for (let k = 0; k < j; k++) sum -= L[i]![k]! * L[j]![k]!;
      L[i]![j] = i === j ? Math.sqrt(Math.max(sum, 1e-12)) : sum / L[j]![j]!;
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let sum = b[i]!;
    for (let k = 0; k < i; k++) sum -= L[i]![k]! * y[k]!;
    y[i] = sum / L[i]![i]!;
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i]!;
    for (let k = i + 1; k < n; k++) sum -= L[k]![i]! * x[k]!;
    x[i] = sum / L[i]![i]!;
  }
  return x;
}

/** Fits P(y=1 | x) = σ(w·z(x) + b) with z the standardised features; `l2` penalises w (not b). */
export function fitLogistic(
  features: number[][],
  labels: number[],
  options: { l2?: number; maxIterations?: number } = {},
): LogisticModel {
  const n = features.length;
  if (n === 0 || n !== labels.length) throw new Error('fitLogistic: expected as many labels as feature rows (and at least one)');
  const d = features[0]!.length;
  const l2 = options.l2 ?? 1;
  const mean = Array.from({ length: d }, (_, j) => features.reduce((a, r) => a + r[j]!, 0) / n);
  const std = Array.from({ length: d }, (_, j) => Math.sqrt(features.reduce((a, r) => a + (r[j]! - mean[j]!) ** 2, 0) / n) || 1);
  const Z = features.map((r) => [...r.map((v, j) => (v - mean[j]!) / std[j]!), 1]);
  let beta = new Array<number>(d + 1).fill(0);
  let it = 0;
  for (; it < (options.maxIterations ?? 50); it++) {
    const grad = new Array<number>(d + 1).fill(0);
    const H = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    for (let i = 0; i < n; i++) {
      const z = Z[i]!;
      let eta = 0;
      for (let j = 0; j <= d; j++) eta += z[j]! * beta[j]!;
      const p = 1 / (1 + Math.exp(-eta));
      const w = Math.max(p * (1 - p), 1e-9);
      const r = p - labels[i]!;
      for (let j = 0; j <= d; j++) {
        grad[j]! += r * z[j]!;
        for (let k = 0; k <= j; k++) H[j]![k]! += w * z[j]! * z[k]!;
      }
    }
    for (let j = 0; j <= d; j++) for (let k = 0; k < j; k++) H[k]![j] = H[j]![k]!;
    for (let j = 0; j < d; j++) {
      grad[j]! += l2 * beta[j]!;
      H[j]![j]! += l2;
    }
    const step = solveSpd(H, grad);
    beta = beta.map((b, j) => b - step[j]!);
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { mean, std, weights: beta.slice(0, d), bias: beta[d]!, iterations: it + 1 };
}

/** P(y=1) for one feature row. */
export function predictLogistic(model: LogisticModel, row: number[]): number {
  let eta = model.bias;
  row.forEach((v, j) => (eta += model.weights[j]! * ((v - model.mean[j]!) / model.std[j]!)));
  return 1 / (1 + Math.exp(-eta));
}

/** Finite-difference checks for the exact GRPO gradients. */

/** Central-difference gradient of f over every parameter of `model` (each restored afterwards). */
export function numericGrad(model: { params: Float64Array; size: number }, f: () => number, h = 1e-5): Float64Array {
  const g = new Float64Array(model.size);
  for (let i = 0; i < model.size; i++) {
    const keep = model.params[i] ?? 0;
    model.params[i] = keep + h;
    const up = f();
    model.params[i] = keep - h;
    const down = f();
    model.params[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** max_i |a_i − n_i| / max(‖a‖_∞, floor): relative error against the analytic gradient's scale. */
export function relErr(analytic: Float64Array, numeric: Float64Array, floor = 1e-12): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < analytic.length; i++) {
    scale = Math.max(scale, Math.abs(analytic[i] ?? 0));
    err = Math.max(err, Math.abs((analytic[i] ?? 0) - (numeric[i] ?? 0)));
  }
  return err / Math.max(scale, floor);
}

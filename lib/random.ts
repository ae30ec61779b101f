/**
 * A small, explicitly stateful PRNG (xoshiro128**, seeded through splitmix32) whose whole state can be saved in a
 * checkpoint and restored, so a resumed run draws exactly the numbers an uninterrupted one would.
 * Gaussian draws use Box–Muller in a fixed pairing order (the second value of each pair is kept for the next call).
 */

/** Serializable PRNG state: four 32-bit words plus the cached second Box–Muller value. */
export interface RngState {
  s: [number, number, number, number];
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

export class Rng {
  private s: [number, number, number, number];
  private spare: number | null = null;

  private constructor(s: [number, number, number, number], spare: number | null) {
    this.s = s;
    this.spare = spare;
  }

  /** A generator seeded from a 32-bit integer (and optional stream labels, hashed in). */
  static fromSeed(seed: number, ...streams: Array<number | string>): Rng {
    let mixed = seed >>> 0;
    for (const stream of streams) {
      const text = String(stream);
      for (let i = 0; i < text.length; i++) mixed = Math.imul(mixed ^ text.charCodeAt(i), 0x01000193) >>> 0;
      mixed = splitmix32(mixed)();
    }
    const sm = splitmix32(mixed);
    const s: [number, number, number, number] = [sm(), sm(), sm(), sm()];
    if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
    return new Rng(s, null);
  }

  /** Restores a generator from `state()`. */
  static fromState(state: RngState): Rng {
    if (!Array.isArray(state.s) || state.s.length !== 4 || state.s.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new Error('rng state: expected s = four unsigned 32-bit integers');
    }
    return new Rng([state.s[0], state.s[1], state.s[2], state.s[3]], state.spare ?? null);
  }

  /** The full state, JSON-safe. */
  state(): RngState {
    return { s: [...this.s] as [number, number, number, number], spare: this.spare };
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] = (s[2] ^ s[0]) >>> 0;
    s[3] = (s[3] ^ s[1]) >>> 0;
    s[1] = (s[1] ^ s[2]) >>> 0;
    s[0] = (s[0] ^ s[3]) >>> 0;
    s[2] = (s[2] ^ t) >>> 0;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`rng.int: expected a positive integer, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal draw (Box–Muller; pairs are consumed in order). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = this.uniform();
    while (u <= Number.MIN_VALUE) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with standard normal draws. */
  fillNormal(out: Float32Array | Float64Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
  }

  /** Samples an index from unnormalised non-negative weights. */
  categorical(probs: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < probs.length; i++) total += probs[i] ?? 0;
    let u = this.uniform() * total;
    for (let i = 0; i < probs.length; i++) {
      u -= probs[i] ?? 0;
      if (u < 0) return i;
    }
    return probs.length - 1;
  }
}

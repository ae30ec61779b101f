/**
 * The realgen-mini tokenizer: a port of `tools/python/tokenizer.py`, checked against its fixtures.
 * Lower-case words matching `[a-z0-9]+`, then [category] + unigram ids + ids of known bigrams, truncated to
 * `maxLen` and right-padded with 0. The generator embeds the tokens as a bag, so order only matters for truncation.
 */
import { z } from 'zod';

export const TokenizerSpecSchema = z.object({
  version: z.literal(1),
  maxLen: z.number().int().positive(),
  pad: z.number().int(),
  unk: z.number().int(),
  categories: z.record(z.string(), z.number().int()),
  vocab: z.record(z.string(), z.number().int()),
  bigrams: z.record(z.string(), z.number().int()),
});
export type TokenizerSpec = z.infer<typeof TokenizerSpecSchema>;

const WORD = /[a-z0-9]+/g;

export class Tokenizer {
  readonly maxLen: number;
  private readonly vocab: Map<string, number>;
  private readonly bigrams: Map<string, number>;
  private readonly categories: Map<string, number>;

  constructor(private readonly spec: TokenizerSpec) {
    this.maxLen = spec.maxLen;
    this.vocab = new Map(Object.entries(spec.vocab));
    this.bigrams = new Map(Object.entries(spec.bigrams));
    this.categories = new Map(Object.entries(spec.categories));
  }

  /** A tokenizer from the parsed contents of `tokenizer.json`; a malformed one is an error naming `source`. */
  static fromJson(json: unknown, source: string): Tokenizer {
    const parsed = TokenizerSpecSchema.safeParse(json);
    if (!parsed.success)
      throw new Error(`${source}: not a realgen-mini tokenizer (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    return new Tokenizer(parsed.data);
  }

  /** The words the tokenizer sees. */
  static words(text: string): string[] {
    return text.toLowerCase().match(WORD) ?? [];
  }

  /** Token ids (length maxLen). `category` must be one of the known categories when given. */
  encode(text: string, category?: string | null): number[] {
    const ids: number[] = [];
    if (category !== undefined && category !== null) {
      const id = this.categories.get(category);
      if (id === undefined)
        throw new Error(
          `unknown category ${JSON.stringify(category)}; expected one of ${[...this.categories.keys()].join(', ')}`,
        );
      ids.push(id);
    }
    const words = Tokenizer.words(text);
    for (const w of words) ids.push(this.vocab.get(w) ?? this.spec.unk);
    for (let i = 0; i + 1 < words.length; i++) {
      const id = this.bigrams.get(`${words[i]} ${words[i + 1]}`);
      if (id !== undefined) ids.push(id);
    }
    const out = ids.slice(0, this.maxLen);
    while (out.length < this.maxLen) out.push(this.spec.pad);
    return out;
  }

  /** Encodes a batch into one int64 buffer of shape [n, maxLen]. */
  encodeBatch(items: Array<{ text: string; category?: string | null }>): BigInt64Array {
    const out = new BigInt64Array(items.length * this.maxLen);
    items.forEach((item, i) => {
      const ids = this.encode(item.text, item.category);
      for (let j = 0; j < this.maxLen; j++) out[i * this.maxLen + j] = BigInt(ids[j] ?? 0);
    });
    return out;
  }
}

/**
 * The arena judge on an OpenAI-compatible chat-completions endpoint with vision (GPT-5, Gemini through a proxy, a
 * local vLLM): for each (generated image, real photo) pair it asks the question of ./judge-prompt twice, once with
 * the generated image first and once with the real photo first, and combines the answers as ./verdict describes
 * (including its policy for unparseable answers).
 *
 * Transport policy:
 * - a request is retried (up to `maxRetries` times) after a network error, a timeout, a 5xx or a 429; a 429's
 *   Retry-After (seconds or an HTTP date, capped at 60 s) replaces the backoff; other 4xx fail the pair at once,
 *   since resending the same body cannot help;
 * - the backoff before retry k (0-based) is backoffMs·2^k plus a jitter uniform in [0, backoffMs·2^k), drawn from a
 *   seeded `Rng`, capped at 60 s;
 * - at most `concurrency` requests are in flight; a request waiting out its backoff does not hold a slot;
 * - the API key is sent as a bearer token and is never part of an error message (it is scrubbed from response
 *   bodies quoted in errors too).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { Rng } from '../../lib/random';
import { judgeQuestion } from '../../domain/arena/judge-prompt';
import {
  DEFAULT_MAX_PARSE_RETRIES,
  combineChoices,
  parseJudgeAnswer,
  type ImageChoice,
  type PairVerdict,
} from '../../domain/arena/verdict';

/** Judge settings. Only baseUrl and model are required. */
export interface OpenAiJudgeOptions {
  /** API root, e.g. "https://api.openai.com/v1" or "http://127.0.0.1:8000/v1"; "/chat/completions" is appended. */
  baseUrl: string;
  model: string;
  /** Sent as "Authorization: Bearer <apiKey>" when given. */
  apiKey?: string;
  /** Requests in flight at most. @default 4 */
  concurrency?: number;
  /** Per-request wall-clock limit in milliseconds, body included. @default 120000 */
  timeoutMs?: number;
  /** Transport retries per request (network, timeout, 5xx, 429). @default 5 */
  maxRetries?: number;
  /** Re-asks per order after an unparseable answer. @default 2 */
  maxParseRetries?: number;
  /** Base backoff in milliseconds, doubled per retry, plus jitter. @default 500 */
  backoffMs?: number;
  /** Seed of the backoff jitter. @default 0 */
  seed?: number;
  /** Append the caption to the question (the paper's judge did not see it). @default false */
  includeCaption?: boolean;
  /** fetch to use (tests, proxies). @default globalThis.fetch */
  fetchImpl?: typeof fetch;
  /** Waits between retries; resolves after `ms` milliseconds. @default node:timers/promises setTimeout */
  sleepImpl?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** One pair to judge. Images are encoded bytes (JPEG, PNG or WebP, sniffed by content). */
export interface ArenaPair {
  generated: Uint8Array;
  real: Uint8Array;
  /** The caption both images illustrate; sent only with `includeCaption`. */
  caption: string;
}

/** A judged pair: the combined verdict plus the raw answers [generated first, real first] (last attempt of each). */
export interface JudgedPair extends PairVerdict {
  answers: [string, string];
}

/** The result for one pair: a verdict, or why it could not be judged (bad image, non-retryable or exhausted request). */
export type ArenaPairResult = JudgedPair | { error: string };

/** Usage and request counters across everything a judge instance has sent. */
export interface JudgeCost {
  /** HTTP requests started, retries and re-asks included. */
  requests: number;
  /** Transport retries (network, timeout, 5xx, 429). */
  retries: number;
  /** Re-asks after unparseable answers. */
  parseRetries: number;
  /** Sum of usage.prompt_tokens over all answered requests. */
  promptTokens: number;
  /** Sum of usage.completion_tokens over all answered requests. */
  completionTokens: number;
}

/** Image MIME types the judge can send. */
export type ImageMime = 'image/jpeg' | 'image/png' | 'image/webp';

/** Longest wait the judge honours or computes, in milliseconds. */
export const MAX_RETRY_DELAY_MS = 60_000;

/** The MIME type from the magic bytes, or null when the bytes are not JPEG, PNG or WebP. */
export function sniffImageMime(bytes: Uint8Array): ImageMime | null {
  const at = (i: number) => bytes[i] ?? -1;
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'image/jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.every((b, i) => at(i) === b)) return 'image/png';
  const ascii = (from: number, to: number) => String.fromCharCode(...Array.from(bytes.subarray(from, to)));
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return null;
}

function imageDataUri(bytes: Uint8Array, what: string): string {
  const mime = sniffImageMime(bytes);
  if (mime === null) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`${what} image: expected JPEG, PNG or WebP bytes, got ${bytes.length} bytes starting "${head}"`);
  }
  return `data:${mime};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

const ChatCompletionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          // Some servers return content parts instead of a string; a refusal may be null.
          content: z
            .union([z.string(), z.null(), z.array(z.object({ type: z.string(), text: z.string().optional() }))])
            .optional(),
        }),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() }).nullish(),
});

/** A request failure, with whether resending the same request may succeed. */
class RequestError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/** Retry-After in milliseconds (delta-seconds or an HTTP date), capped; null when absent or unreadable. */
function parseRetryAfter(header: string | null, now: number): number | null {
  if (header === null || header.trim() === '') return null;
  const text = header.trim();
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(MAX_RETRY_DELAY_MS, Math.max(0, ms));
}

/** A counting semaphore: at most `limit` holders, FIFO. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(limit: number) {
    this.free = limit;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

function intOption(value: number | undefined, fallback: number, name: string, min: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new RangeError(`openai judge ${name}: expected an integer >= ${min}, got ${v}`);
  return v;
}

/** An arena judge bound to one endpoint and model; `cost` accumulates over all calls. */
export class OpenAiJudge {
  private readonly url: string;
  private readonly model: string;
  private readonly apiKey: string | undefined;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxParseRetries: number;
  private readonly backoffMs: number;
  private readonly includeCaption: boolean;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly rng: Rng;
  private readonly slots: Slots;
  private readonly counters: JudgeCost = { requests: 0, retries: 0, parseRetries: 0, promptTokens: 0, completionTokens: 0 };

  constructor(options: OpenAiJudgeOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new RangeError(`openai judge baseUrl: expected an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new RangeError(`openai judge baseUrl: expected an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    }
    if (typeof options.model !== 'string' || options.model === '')
      throw new RangeError('openai judge model: expected a non-empty string');
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.model = options.model;
    this.apiKey = options.apiKey === '' ? undefined : options.apiKey;
    this.concurrency = intOption(options.concurrency, 4, 'concurrency', 1);
    this.timeoutMs = intOption(options.timeoutMs, 120_000, 'timeoutMs', 1);
    this.maxRetries = intOption(options.maxRetries, 5, 'maxRetries', 0);
    this.maxParseRetries = intOption(options.maxParseRetries, DEFAULT_MAX_PARSE_RETRIES, 'maxParseRetries', 0);
    this.backoffMs = intOption(options.backoffMs, 500, 'backoffMs', 0);
    this.includeCaption = options.includeCaption ?? false;
    this.fetchImpl = options.fetchImpl ?? fetch;
    this.sleep = options.sleepImpl ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.rng = Rng.fromSeed(intOption(options.seed, 0, 'seed', 0), 'openai-judge-backoff');
    this.slots = new Slots(this.concurrency);
  }

  /** A snapshot of the counters. */
  get cost(): JudgeCost {
    return { ...this.counters };
  }

  /**
   * Judges every pair (results in input order). At most `concurrency` pairs are worked on at once, and at most
   * `concurrency` requests are in flight. Aborting `signal` rejects with the abort reason.
   */
  async judgePairs(pairs: readonly ArenaPair[], signal?: AbortSignal): Promise<ArenaPairResult[]> {
    const results: ArenaPairResult[] = new Array<ArenaPairResult>(pairs.length);
    let next = 0;
    const worker = async () => {
      while (next < pairs.length) {
        const i = next++;
        const pair = pairs[i];
        if (pair !== undefined) results[i] = await this.judgePair(pair, signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, pairs.length) }, worker));
    return results;
  }

  /** Judges one pair in both orders. Failures become `{ error }`, except an abort through `signal`, which rejects. */
  async judgePair(pair: ArenaPair, signal?: AbortSignal): Promise<ArenaPairResult> {
    let generated: string;
    let real: string;
    try {
      generated = imageDataUri(pair.generated, 'generated');
      real = imageDataUri(pair.real, 'real');
    } catch (err) {
      return { error: (err as Error).message };
    }
    const question = judgeQuestion(this.includeCaption ? pair.caption : undefined);
    const [first, second] = await Promise.allSettled([
      this.askOrder(question, generated, real, signal),
      this.askOrder(question, real, generated, signal),
    ]);
    signal?.throwIfAborted();
    if (first.status === 'rejected' || second.status === 'rejected') {
      const errors: string[] = [];
      if (first.status === 'rejected') errors.push(`generated-first order: ${(first.reason as Error).message}`);
      if (second.status === 'rejected') errors.push(`real-first order: ${(second.reason as Error).message}`);
      return { error: this.redact(errors.join('; ')) };
    }
    return { ...combineChoices(first.value.choice, second.value.choice), answers: [first.value.text, second.value.text] };
  }

  /** Asks one order, re-asking after unparseable answers; returns the last answer and its choice (null = unparseable). */
  private async askOrder(
    question: string,
    image1: string,
    image2: string,
    signal?: AbortSignal,
  ): Promise<{ text: string; choice: ImageChoice | null }> {
    const body = JSON.stringify({
      model: this.model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: question },
            { type: 'image_url', image_url: { url: image1 } },
            { type: 'image_url', image_url: { url: image2 } },
          ],
        },
      ],
      temperature: 0,
    });
    let text = '';
    for (let attempt = 0; attempt <= this.maxParseRetries; attempt++) {
      if (attempt > 0) this.counters.parseRetries++;
      text = await this.requestWithRetries(body, signal);
      const parsed = parseJudgeAnswer(text);
      if (parsed !== null) return { text, choice: parsed.choice };
    }
    return { text, choice: null };
  }

  private async requestWithRetries(body: string, signal?: AbortSignal): Promise<string> {
    for (let retry = 0; ; retry++) {
      signal?.throwIfAborted();
      let failure: RequestError;
      try {
        return await this.requestOnce(body, signal);
      } catch (err) {
        signal?.throwIfAborted();
        failure = err instanceof RequestError ? err : new RequestError(describeError(err), true);
      }
      if (!failure.retryable) throw failure;
      if (retry >= this.maxRetries) {
        throw new RequestError(`${failure.message} (gave up after ${this.maxRetries} retries)`, false);
      }
      this.counters.retries++;
      await this.sleep(failure.retryAfterMs ?? this.backoff(retry), signal);
    }
  }

  /** Backoff before retry `k` (0-based), in milliseconds. */
  private backoff(k: number): number {
    const base = this.backoffMs * 2 ** k;
    return Math.min(MAX_RETRY_DELAY_MS, base + this.rng.uniform() * base);
  }

  private async requestOnce(body: string, signal?: AbortSignal): Promise<string> {
    await this.slots.acquire();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    try {
      this.counters.requests++;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (this.apiKey !== undefined) headers.authorization = `Bearer ${this.apiKey}`;
      let res: Response;
      let text: string;
      try {
        res = await this.fetchImpl(this.url, { method: 'POST', headers, body, signal: combined });
        text = await res.text();
      } catch (err) {
        if (timeout.signal.aborted && !signal?.aborted)
          throw new RequestError(`no complete answer within ${this.timeoutMs} ms`, true);
        throw err;
      }
      if (res.status === 429) {
        throw new RequestError(`HTTP 429 ${snippet(text)}`, true, parseRetryAfter(res.headers.get('retry-after'), Date.now()));
      }
      if (res.status >= 500) throw new RequestError(`HTTP ${res.status} ${snippet(text)}`, true);
      if (!res.ok) throw new RequestError(`HTTP ${res.status} ${snippet(text)}`, false);
      return this.readAnswer(text);
    } finally {
      clearTimeout(timer);
      this.slots.release();
    }
  }

  /** The answer text of a 2xx body, counting its usage. A malformed body is not retried: the server is not chat-completions. */
  private readAnswer(text: string): string {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RequestError(`expected a JSON chat completion, got ${snippet(text)}`, false);
    }
    const parsed = ChatCompletionSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RequestError(
        `expected a chat completion with choices[0].message, got a body failing at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? ''}`,
        false,
      );
    }
    this.counters.promptTokens += parsed.data.usage?.prompt_tokens ?? 0;
    this.counters.completionTokens += parsed.data.usage?.completion_tokens ?? 0;
    const content = parsed.data.choices[0]?.message.content;
    if (typeof content === 'string') return content;
    if (Array.isArray(content)) return content.map((part) => part.text ?? '').join('');
    return '';
  }

  private redact(message: string): string {
    return this.apiKey === undefined ? message : message.split(this.apiKey).join('[redacted]');
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 200 ? `${flat.slice(0, 200)}…` : flat);
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message;
    return detail ? `${err.message} (${detail})` : err.message;
  }
  return String(err);
}

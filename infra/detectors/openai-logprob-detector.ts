/**
 * A detector behind an OpenAI-compatible chat-completions endpoint (e.g. Forensic-Chat served by vLLM): it asks for
 * one token with log-probabilities and turns the first position's real/fake log-probs into P(real) the way the
 * official reward server turns logits into P(real) (spec §2.1).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Rng } from '../../lib/random';
import type { Detector, ScoreResult } from './detector';

/** The instruction sent with every image. The official scorer asks the same question; its exact wording is not known. */
export const DEFAULT_FORENSIC_INSTRUCTION =
  'Decide whether this image is a real photograph or AI-generated. Answer with one word: real or fake.';

/** Settings of an {@link OpenAiLogprobDetector}. */
export interface OpenAiLogprobDetectorOptions {
  /** Detector name: the reward key and the Detector-Scoring column. */
  name: string;
  /** Endpoint root up to and including the API version, e.g. `http://127.0.0.1:8000/v1`; `/chat/completions` is appended. */
  baseUrl: string;
  /** Model name the server expects (vLLM's `--served-model-name`). */
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>` when given; never logged nor put in an error. */
  apiKey?: string;
  /** Per-attempt limit for the whole request, response body included, in ms. Default 60000. */
  timeoutMs?: number;
  /** Retries after the first attempt, on network errors, timeouts, HTTP 429 and 5xx. Default 4. */
  maxRetries?: number;
  /** Most requests in flight at once for this detector, across all concurrent `scoreEncoded` calls. Default 4. */
  concurrency?: number;
  /** First backoff delay in ms; doubles per retry, jittered ×[0.5, 1.5), capped at 60 s. Default 500. */
  backoffMs?: number;
  /** Source of the backoff jitter. Default `Rng.fromSeed(0, 'openai-logprob-detector', name)`. */
  rng?: Rng;
  /** The question asked with each image. Default {@link DEFAULT_FORENSIC_INSTRUCTION}. */
  instruction?: string;
  /** HTTP client; default the global `fetch`. */
  fetchImpl?: typeof fetch;
}

/** One entry of `choices[0].logprobs.content[0].top_logprobs`. */
export interface TopLogprob {
  token: string;
  logprob: number;
}

/** Image kinds the endpoint can be sent as a data URL. */
export type ImageMime = 'image/jpeg' | 'image/png' | 'image/webp';

const MAX_WAIT_MS = 60_000;
const TOP_LOGPROBS = 20;

/** The image type from its first bytes (never from a file name); null when it is not JPEG, PNG or WebP. */
export function sniffImageMime(bytes: Uint8Array): ImageMime | null {
  const at = (i: number) => bytes[i];
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'image/jpeg';
  if (at(0) === 0x89 && at(1) === 0x50 && at(2) === 0x4e && at(3) === 0x47) return 'image/png';
  const ascii = (from: number, to: number) => Buffer.from(bytes.subarray(from, to)).toString('latin1');
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return null;
}

/**
 * P(real) from the top log-probs of the answer's first token, as the official scorer computes it from logits:
 * average the pair {real, Real} and the pair {fake, Fake}, then a 2-way softmax over [fake, real].
 *
 * The official code averages raw logits. A log-prob is the logit minus log Z, with the same Z for every token of one
 * softmax, so both pair averages shift by the same log Z and the 2-way softmax — which only sees their difference —
 * is unchanged. That holds while the server reports log-probs of the unmodified logits (temperature 0, no penalties).
 * One real difference remains: a token outside the top-k has no reported value, so it is left out of its pair's
 * average (the other token stands alone) where the official code would average in its very low logit. With k = 20
 * this only happens when that token is very unlikely anyway. If a whole pair is missing its side is −∞.
 *
 * Matching is exact: " real" (with a space) is a different token. Throws when none of the four tokens is present.
 */
export function pRealFromTopLogprobs(top: readonly TopLogprob[]): number {
  const best = new Map<string, number>();
  for (const { token, logprob } of top) {
    if (token !== 'real' && token !== 'Real' && token !== 'fake' && token !== 'Fake') continue;
    // Several token ids can decode to the same text; the most likely one is the one the model means.
    best.set(token, Math.max(best.get(token) ?? -Infinity, logprob));
  }
  const side = (a: string, b: string): number => {
    const values = [best.get(a), best.get(b)].filter((v): v is number => v !== undefined && v > -Infinity);
    return values.length === 0 ? -Infinity : values.reduce((s, v) => s + v, 0) / values.length;
  };
  const real = side('real', 'Real');
  const fake = side('fake', 'Fake');
  if (real === -Infinity && fake === -Infinity) {
    throw new Error('endpoint returned none of real/Real/fake/Fake in top_logprobs');
  }
  if (real === -Infinity) return 0;
  if (fake === -Infinity) return 1;
  return 1 / (1 + Math.exp(fake - real));
}

/** Reads `choices[0].logprobs.content[0].top_logprobs`, or null when the response does not carry it. */
function topLogprobsOf(response: unknown): TopLogprob[] | null {
  const field = (v: unknown, key: string): unknown =>
    typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
  const first = (v: unknown): unknown => (Array.isArray(v) ? v[0] : undefined);
  const top = field(first(field(field(first(field(response, 'choices')), 'logprobs'), 'content')), 'top_logprobs');
  if (!Array.isArray(top)) return null;
  return top.map((entry, i) => {
    const token = field(entry, 'token');
    const logprob = field(entry, 'logprob');
    if (typeof token !== 'string' || typeof logprob !== 'number' || Number.isNaN(logprob)) {
      throw new Error(`endpoint returned a malformed top_logprobs[${i}]: expected { token: string, logprob: number }`);
    }
    return { token, logprob };
  });
}

/** `Retry-After` in ms (delta-seconds or an HTTP date), capped at 60 s; null when absent or unreadable. */
function retryAfterMs(header: string | null): number | null {
  if (header === null || header.trim() === '') return null;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.min(MAX_WAIT_MS, Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.min(MAX_WAIT_MS, Math.max(0, date - Date.now()));
}

function describeNetworkError(err: unknown): string {
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? `${message} (${code})` : message;
}

/** One request's outcome; `waitMs` is the server's Retry-After, when it sent one. */
type Attempt =
  { kind: 'ok'; pReal: number } | { kind: 'fatal'; error: string } | { kind: 'retry'; error: string; waitMs: number | null };

/** A counting semaphore whose waiters leave the queue when their signal aborts. */
class Slots {
  private free: number;
  private readonly waiters: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      // The slot is handed over directly (free stays 0), so a newcomer cannot overtake a waiter.
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * {@link Detector} over an OpenAI-compatible `/chat/completions` endpoint that returns log-probs.
 *
 * Per image: one request for `max_tokens: 1`, `temperature: 0`, `logprobs: true`, `top_logprobs: 20`, with the image
 * as a data URL (MIME sniffed from its bytes) followed by the instruction. Bad images, non-retryable HTTP errors,
 * responses without log-probs and exhausted retries become error items; aborting `signal` rejects the whole call.
 */
export class OpenAiLogprobDetector implements Detector {
  readonly name: string;
  private readonly endpoint: string;
  /** The endpoint without any credentials in it, for error messages. */
  private readonly shownEndpoint: string;
  private readonly model: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly rng: Rng;
  private readonly instruction: string;
  private readonly fetchImpl: typeof fetch;
  private readonly slots: Slots;
  private closed = false;

  constructor(options: OpenAiLogprobDetectorOptions) {
    const fail = (field: string, expected: string) => {
      throw new Error(`openai logprob detector${options.name ? ` "${options.name}"` : ''}: ${field} must be ${expected}`);
    };
    if (typeof options.name !== 'string' || options.name === '') fail('name', 'a non-empty string');
    if (typeof options.model !== 'string' || options.model === '') fail('model', 'a non-empty string');
    let url: URL | undefined;
    try {
      url = new URL(options.baseUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      fail('baseUrl', `an http(s) URL, got ${JSON.stringify(String(options.baseUrl))}`);
    }
    // A header value with control characters or spaces would make fetch throw an error that quotes the key.
    if (options.apiKey !== undefined && !/^[\x21-\x7e]+$/.test(options.apiKey)) {
      fail('apiKey', 'non-empty printable ASCII without spaces');
    }
    const timeoutMs = options.timeoutMs ?? 60_000;
    const maxRetries = options.maxRetries ?? 4;
    const concurrency = options.concurrency ?? 4;
    const backoffMs = options.backoffMs ?? 500;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail('timeoutMs', `a number of ms > 0, got ${timeoutMs}`);
    if (!Number.isInteger(maxRetries) || maxRetries < 0) fail('maxRetries', `an integer ≥ 0, got ${maxRetries}`);
    if (!Number.isInteger(concurrency) || concurrency < 1) fail('concurrency', `an integer ≥ 1, got ${concurrency}`);
    if (!Number.isFinite(backoffMs) || backoffMs < 0) fail('backoffMs', `a number of ms ≥ 0, got ${backoffMs}`);

    this.name = options.name;
    this.endpoint = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    const shown = new URL(this.endpoint);
    shown.username = '';
    shown.password = '';
    this.shownEndpoint = shown.toString();
    this.model = options.model;
    this.apiKey = options.apiKey;
    this.timeoutMs = timeoutMs;
    this.maxRetries = maxRetries;
    this.backoffMs = backoffMs;
    this.rng = options.rng ?? Rng.fromSeed(0, 'openai-logprob-detector', options.name);
    this.instruction = options.instruction ?? DEFAULT_FORENSIC_INSTRUCTION;
    this.fetchImpl = options.fetchImpl ?? fetch;
    this.slots = new Slots(concurrency);
  }

  /** Scores each image (P(real) in [0, 1]); results are in input order. */
  async scoreEncoded(images: Buffer[], signal?: AbortSignal): Promise<ScoreResult[]> {
    if (this.closed) throw new Error(`${this.name}: detector is closed`);
    signal?.throwIfAborted();
    return Promise.all(images.map((image, i) => this.slots.run(() => this.scoreOne(image, i, signal), signal)));
  }

  /** Nothing to release beyond refusing further calls: `fetch` owns its connection pool. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private async scoreOne(image: Buffer, index: number, signal: AbortSignal | undefined): Promise<ScoreResult> {
    const mime = sniffImageMime(image);
    if (mime === null) {
      const head = Buffer.from(image.subarray(0, 4)).toString('hex');
      return { ok: false, error: `image ${index}: not a JPEG, PNG or WebP image (first bytes: ${head || 'none'})` };
    }
    const body = JSON.stringify({
      model: this.model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `data:${mime};base64,${image.toString('base64')}` } },
            { type: 'text', text: this.instruction },
          ],
        },
      ],
      max_tokens: 1,
      temperature: 0,
      logprobs: true,
      top_logprobs: TOP_LOGPROBS,
    });
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(body, signal);
      if (outcome.kind === 'ok') return { ok: true, pReal: outcome.pReal };
      if (outcome.kind === 'fatal') return { ok: false, error: this.redact(`image ${index}: ${outcome.error}`) };
      if (attempt >= this.maxRetries) {
        return { ok: false, error: this.redact(`image ${index}: ${outcome.error} (gave up after ${attempt + 1} attempts)`) };
      }
      const waitMs = outcome.waitMs ?? Math.min(MAX_WAIT_MS, this.backoffMs * 2 ** attempt * (0.5 + this.rng.uniform()));
      try {
        await sleep(waitMs, undefined, signal ? { signal } : undefined);
      } catch (err) {
        throw signal?.aborted ? signal.reason : err;
      }
    }
  }

  private async attempt(body: string, signal: AbortSignal | undefined): Promise<Attempt> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.apiKey !== undefined) headers.authorization = `Bearer ${this.apiKey}`;
    const where = `POST ${this.shownEndpoint}`;
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await this.fetchImpl(this.endpoint, {
        method: 'POST',
        headers,
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        return { kind: 'retry', error: `${where}: no complete answer within ${this.timeoutMs} ms`, waitMs: null };
      }
      return { kind: 'retry', error: `${where}: ${describeNetworkError(err)}`, waitMs: null };
    }

    const snippet = text.length > 300 ? `${text.slice(0, 300)}…` : text;
    if (status === 429 || status >= 500) {
      return { kind: 'retry', error: `${where}: HTTP ${status}: ${snippet}`, waitMs: retryAfterMs(retryAfter) };
    }
    if (status < 200 || status >= 300) return { kind: 'fatal', error: `${where}: HTTP ${status}: ${snippet}` };

    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { kind: 'fatal', error: `${where}: HTTP ${status} with a body that is not JSON: ${snippet}` };
    }
    try {
      const top = topLogprobsOf(parsed);
      if (top === null) {
        return {
          kind: 'fatal',
          error:
            `${where}: the endpoint did not return logprobs (no choices[0].logprobs.content[0].top_logprobs); ` +
            `the model must support logprobs and the server must allow them (vLLM: --max-logprobs ≥ ${TOP_LOGPROBS})`,
        };
      }
      return { kind: 'ok', pReal: pRealFromTopLogprobs(top) };
    } catch (err) {
      return { kind: 'fatal', error: `${where}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  /** Belt and braces: a server may echo the Authorization header back in an error body. */
  private redact(text: string): string {
    return this.apiKey ? text.split(this.apiKey).join('[redacted]') : text;
  }
}

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { JUDGE_QUESTION } from '../../../domain/arena/judge-prompt';
import {
  OpenAiJudge,
  sniffImageMime,
  type ArenaPair,
  type JudgedPair,
  type OpenAiJudgeOptions,
} from '../../../infra/judges/openai-judge';

// Distinguishable tiny "images": only the magic bytes matter, the judge never decodes them.
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x67, 0x65, 0x6e]);
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x72, 0x65, 0x61, 0x6c]);
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([4, 0, 0, 0]), Buffer.from('WEBPVP8 ')]);
const API_KEY = 'sk-test-secret-123';

type Label = 'gen' | 'real' | 'other';

interface Seen {
  /** Which image came first and second, by decoding the data URIs. */
  order: [Label, Label];
  mimes: [string, string];
  body: Record<string, unknown>;
  auth: string | undefined;
  path: string;
}

/** What the fake server sends for one request; `hold` keeps the request open until the test releases it. */
type Reply =
  | {
      status?: number;
      headers?: Record<string, string>;
      body?: string;
      answer?: string;
      usage?: { prompt_tokens: number; completion_tokens: number };
    }
  | 'hold';
type Handler = (seen: Seen, n: number) => Reply;

let server: http.Server;
let baseUrl: string;
let handler: Handler;
let seen: Seen[];
let held: http.ServerResponse[];
let inFlight = 0;
let maxInFlight = 0;
/** Called after each request is recorded, before it is answered: lets a test hold and release requests. */
let onRequest: ((respond: () => void) => void) | null;

const label = (url: string): Label => {
  const data = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
  return data.equals(PNG) ? 'gen' : data.equals(JPEG) ? 'real' : 'other';
};

/** The answer of a judge that always prefers the generated image. */
const prefersGenerated: Handler = (s) => ({
  answer: `More Realistic Image: Image ${s.order[0] === 'gen' ? 1 : 2}\nBetter hands.`,
});

function send(res: http.ServerResponse, reply: Exclude<Reply, 'hold'>): void {
  const body =
    reply.body ??
    JSON.stringify({
      id: 'x',
      choices: [{ index: 0, message: { role: 'assistant', content: reply.answer ?? '' } }],
      usage: reply.usage ?? { prompt_tokens: 10, completion_tokens: 2 },
    });
  res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
  res.end(body);
}

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // 'finish' is emitted before the client can read the end of the answer; 'close' covers destroyed requests.
      let open = true;
      const done = () => {
        if (open) inFlight--;
        open = false;
      };
      res.on('finish', done);
      res.on('close', done);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      const content =
        (body.messages as Array<{ content: Array<{ type: string; image_url?: { url: string } }> }>)[0]?.content ?? [];
      const urls = content.filter((c) => c.type === 'image_url').map((c) => c.image_url?.url ?? '');
      const s: Seen = {
        order: [label(urls[0] ?? ''), label(urls[1] ?? '')],
        mimes: [(urls[0] ?? '').split(';')[0] ?? '', (urls[1] ?? '').split(';')[0] ?? ''],
        body,
        auth: req.headers.authorization,
        path: req.url ?? '',
      };
      seen.push(s);
      const reply = handler(s, seen.length);
      const respond = () => {
        if (reply === 'hold') held.push(res);
        else send(res, reply);
      };
      if (onRequest) onRequest(respond);
      else respond();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;
});

after(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  handler = prefersGenerated;
  seen = [];
  held = [];
  maxInFlight = 0;
  onRequest = null;
});

const pair: ArenaPair = { generated: PNG, real: JPEG, caption: 'a pelican' };
/** Options for tests: no real waiting, recorded delays. */
function judgeWith(extra: Partial<OpenAiJudgeOptions> = {}, sleeps: number[] = []): OpenAiJudge {
  return new OpenAiJudge({
    baseUrl,
    model: 'judge-model',
    apiKey: API_KEY,
    sleepImpl: async (ms) => {
      sleeps.push(ms);
    },
    ...extra,
  });
}
const judged = (r: unknown): JudgedPair => {
  assert.ok(r && typeof r === 'object' && !('error' in r), `expected a verdict, got ${JSON.stringify(r)}`);
  return r as JudgedPair;
};

describe('sniffImageMime', () => {
  it('recognises JPEG, PNG and WebP by magic bytes only', () => {
    assert.equal(sniffImageMime(JPEG), 'image/jpeg');
    assert.equal(sniffImageMime(PNG), 'image/png');
    assert.equal(sniffImageMime(WEBP), 'image/webp');
    assert.equal(sniffImageMime(Buffer.from('GIF89a')), null);
    assert.equal(sniffImageMime(Buffer.from('RIFF\0\0\0\0WAVE')), null);
    assert.equal(sniffImageMime(Buffer.alloc(0)), null);
  });
});

describe('OpenAiJudge', () => {
  it('asks both orders with the question, both images as data URIs, temperature 0 and the bearer key', async () => {
    const judge = judgeWith();
    const r = judged(await judge.judgePair(pair));
    assert.equal(r.outcome, 'win');
    assert.equal(r.consistent, true);
    assert.equal(r.unparseable, false);
    assert.deepEqual(r.answers, ['More Realistic Image: Image 1\nBetter hands.', 'More Realistic Image: Image 2\nBetter hands.']);
    assert.equal(seen.length, 2);
    assert.deepEqual(seen.map((s) => s.order.join('>')).sort(), ['gen>real', 'real>gen']);
    for (const s of seen) {
      assert.equal(s.path, '/v1/chat/completions');
      assert.equal(s.auth, `Bearer ${API_KEY}`);
      assert.equal(s.body.model, 'judge-model');
      assert.equal(s.body.temperature, 0);
      const messages = s.body.messages as Array<{ role: string; content: Array<{ type: string; text?: string }> }>;
      assert.equal(messages.length, 1);
      assert.equal(messages[0]?.role, 'user');
      assert.deepEqual(
        messages[0]?.content.map((c) => c.type),
        ['text', 'image_url', 'image_url'],
      );
      assert.equal(messages[0]?.content[0]?.text, JUDGE_QUESTION, 'no caption unless includeCaption');
      assert.deepEqual([...s.mimes].sort(), ['data:image/jpeg', 'data:image/png']);
    }
  });

  it('sends no authorization header without a key, and the caption with includeCaption', async () => {
    const judge = new OpenAiJudge({ baseUrl, model: 'm', includeCaption: true });
    judged(await judge.judgePair(pair));
    assert.equal(seen[0]?.auth, undefined);
    const text = (seen[0]?.body.messages as Array<{ content: Array<{ text?: string }> }>)[0]?.content[0]?.text ?? '';
    assert.ok(text.startsWith(JUDGE_QUESTION) && text.endsWith('a pelican'));
  });

  it('scores a position-following judge as an inconsistent tie and a real-preferring one as a loss', async () => {
    handler = () => ({ answer: '**More Realistic Image:** Image 1\nIt looks right.' });
    const tie = judged(await judgeWith().judgePair(pair));
    assert.deepEqual([tie.outcome, tie.consistent, tie.unparseable], ['tie', false, false]);
    handler = (s) => ({ answer: JSON.stringify({ more_realistic: s.order[0] === 'real' ? 1 : 2, reason: 'greasy skin' }) });
    const loss = judged(await judgeWith().judgePair(pair));
    assert.deepEqual([loss.outcome, loss.consistent], ['loss', true]);
  });

  it('re-asks after malformed answers, then applies the tie + unparseable policy, counting tokens over all requests', async () => {
    // The real-first order never parses; the generated-first order parses on its second attempt.
    let genFirstAsked = 0;
    handler = (s) => {
      if (s.order[0] === 'real') return { answer: 'Both look fine to me.', usage: { prompt_tokens: 100, completion_tokens: 5 } };
      genFirstAsked++;
      return genFirstAsked === 1
        ? { answer: 'More Realistic Image: Neither', usage: { prompt_tokens: 100, completion_tokens: 4 } }
        : { answer: 'More Realistic Image: Image 1\nok', usage: { prompt_tokens: 100, completion_tokens: 3 } };
    };
    const judge = judgeWith({ maxParseRetries: 2 });
    const r = judged(await judge.judgePair(pair));
    assert.deepEqual([r.outcome, r.score, r.consistent, r.unparseable], ['tie', 0.5, false, true]);
    assert.deepEqual(r.answers, ['More Realistic Image: Image 1\nok', 'Both look fine to me.']);
    assert.equal(seen.filter((s) => s.order[0] === 'real').length, 3, 'one ask + two re-asks');
    assert.equal(genFirstAsked, 2);
    assert.deepEqual(judge.cost, {
      requests: 5,
      retries: 0,
      parseRetries: 3,
      promptTokens: 500,
      completionTokens: 5 * 3 + 4 + 3,
    });
  });

  it('retries a 429 after its Retry-After (capped at 60 s) and a 500 after an exponential, jittered backoff', async () => {
    const sleeps: number[] = [];
    const statusByRequest: Record<number, Reply> = {
      1: { status: 429, headers: { 'retry-after': '0' }, body: '{"error":"slow down"}' },
      2: { status: 429, headers: { 'retry-after': '3600' }, body: '{}' },
      3: { status: 500, body: 'oops' },
      4: { status: 503, body: 'oops' },
    };
    handler = (s, n) => statusByRequest[n] ?? prefersGenerated(s, n);
    const judge = judgeWith({ concurrency: 1, backoffMs: 100, seed: 3 }, sleeps);
    const r = judged(await judge.judgePair(pair));
    assert.equal(r.outcome, 'win');
    assert.equal(judge.cost.requests, 6);
    assert.equal(judge.cost.retries, 4);
    // With concurrency 1 the two orders interleave, so the order of waits varies; their set does not.
    const sorted = [...sleeps].sort((a, b) => a - b);
    assert.equal(sorted.length, 4);
    assert.equal(sorted[0], 0, 'Retry-After: 0');
    assert.equal(sorted[3], 60_000, 'Retry-After: 3600 capped at 60 s');
    const backoffs = sorted.slice(1, 3);
    for (const ms of backoffs) assert.ok(ms >= 100 && ms < 400, `backoff ${ms} outside [100, 400)`);
  });

  it('draws the same jitter for the same seed', async () => {
    const run = async (seed: number) => {
      const sleeps: number[] = [];
      handler = (s, n) => (n <= 3 ? { status: 502, body: '' } : prefersGenerated(s, n));
      seen = [];
      await judgeWith({ concurrency: 1, seed }, sleeps).judgePair(pair);
      return sleeps;
    };
    const a = await run(7);
    assert.deepEqual(await run(7), a);
    assert.notDeepEqual(await run(8), a);
  });

  it('does not retry other 4xx and never puts the API key in the error', async () => {
    handler = (s) => ({ status: 400, body: JSON.stringify({ error: `bad request, you sent ${s.auth}` }) });
    const judge = judgeWith();
    const r = await judge.judgePair(pair);
    assert.ok('error' in r);
    assert.match(r.error, /HTTP 400/);
    assert.match(r.error, /generated-first order/);
    assert.ok(!r.error.includes(API_KEY), r.error);
    assert.equal(judge.cost.requests, 2);
    assert.equal(judge.cost.retries, 0);
  });

  it('gives up after maxRetries and reports the last failure', async () => {
    handler = () => ({ status: 500, body: 'down' });
    const judge = judgeWith({ maxRetries: 2 });
    const r = await judge.judgePair(pair);
    assert.ok('error' in r);
    assert.match(r.error, /HTTP 500 "down" \(gave up after 2 retries\)/);
    assert.equal(judge.cost.requests, 6);
    assert.equal(judge.cost.retries, 4);
  });

  it('retries a request that times out', async () => {
    handler = (s, n) => (n === 1 ? 'hold' : prefersGenerated(s, n));
    const judge = judgeWith({ concurrency: 1, timeoutMs: 300 });
    const r = judged(await judge.judgePair(pair));
    assert.equal(r.outcome, 'win');
    assert.equal(judge.cost.retries, 1);
    assert.equal(judge.cost.requests, 3);
  });

  it('retries network errors from fetch', async () => {
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls++;
      if (calls === 1) throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
      return fetch(input, init);
    };
    const judge = judgeWith({ fetchImpl: flaky, concurrency: 1 });
    assert.equal(judged(await judge.judgePair(pair)).outcome, 'win');
    assert.equal(judge.cost.retries, 1);
    assert.equal(calls, 3);
  });

  it('never has more than `concurrency` requests in flight, and reaches it', async () => {
    const pairs = Array.from({ length: 10 }, () => pair);
    const total = pairs.length * 2;
    const pending: Array<() => void> = [];
    let received = 0;
    // Answer the oldest request only once `concurrency` are open (or nothing more can arrive): if the judge sent more
    // than allowed, the server would see them.
    onRequest = (respond) => {
      received++;
      pending.push(respond);
      while (pending.length > 0 && (pending.length >= 3 || received === total)) pending.shift()?.();
    };
    const judge = judgeWith({ concurrency: 3 });
    const results = await judge.judgePairs(pairs);
    assert.equal(results.length, 10);
    for (const r of results) assert.equal(judged(r).outcome, 'win');
    assert.equal(maxInFlight, 3);
    assert.equal(judge.cost.requests, 20);
    assert.equal(judge.cost.promptTokens, 200);
    assert.equal(judge.cost.completionTokens, 40);
  });

  it('turns an image that is not JPEG, PNG or WebP into an error for that pair only', async () => {
    const judge = judgeWith();
    const results = await judge.judgePairs([
      pair,
      { generated: Buffer.from('GIF89a...'), real: JPEG, caption: '' },
      { ...pair, real: WEBP },
    ]);
    assert.equal(judged(results[0]).outcome, 'win');
    const bad = results[1];
    assert.ok(bad && 'error' in bad);
    assert.match(bad.error, /generated image: expected JPEG, PNG or WebP bytes, got 9 bytes starting "47 49 46 38/);
    judged(results[2]);
    assert.ok(seen.some((s) => s.mimes.includes('data:image/webp')));
    assert.equal(judge.cost.requests, 4);
  });

  it('treats a 200 that is not a chat completion as an error, without retrying', async () => {
    handler = () => ({ body: '{"choices": []}' });
    const judge = judgeWith();
    const r = await judge.judgePair(pair);
    assert.ok('error' in r);
    assert.match(r.error, /expected a chat completion/);
    assert.equal(judge.cost.retries, 0);
  });

  it('rejects with the abort reason when the caller aborts, without retrying', async () => {
    handler = () => 'hold';
    const controller = new AbortController();
    // Abort once the first request has reached the server, so the abort lands mid-request.
    onRequest = () => controller.abort(new Error('stopped by caller'));
    const judge = judgeWith();
    await assert.rejects(judge.judgePairs([pair, pair], controller.signal), /stopped by caller/);
    assert.equal(judge.cost.retries, 0);
  });

  it('refuses bad options by name', () => {
    assert.throws(() => new OpenAiJudge({ baseUrl: 'ftp://x', model: 'm' }), /baseUrl: expected an http\(s\) URL/);
    assert.throws(() => new OpenAiJudge({ baseUrl, model: '' }), /model: expected a non-empty string/);
    assert.throws(() => new OpenAiJudge({ baseUrl, model: 'm', concurrency: 0 }), /concurrency: expected an integer >= 1, got 0/);
  });
});

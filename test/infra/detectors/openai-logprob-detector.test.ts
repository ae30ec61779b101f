import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import {
  OpenAiLogprobDetector,
  pRealFromTopLogprobs,
  sniffImageMime,
  type OpenAiLogprobDetectorOptions,
  type TopLogprob,
} from '../../../infra/detectors/openai-logprob-detector';

// Only the magic bytes matter to the detector; the trailing byte lets a server tell test images apart.
const jpeg = (tag = 0) => Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, tag]);
const png = (tag = 0) => Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, tag]);
const webp = (tag = 0) =>
  Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.from([tag])]);

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  /** The image bytes decoded back from the request's data URL. */
  image: Buffer;
}

type Handler = (req: Received, res: ServerResponse, count: number) => void;

interface TestServer {
  baseUrl: string;
  requests: Received[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that hands every complete request to `handler`. */
async function serve(handler: Handler): Promise<TestServer> {
  const requests: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const url: string = body?.messages?.[0]?.content?.[0]?.image_url?.url ?? '';
      const received = {
        url: req.url ?? '',
        headers: req.headers,
        body,
        image: Buffer.from(url.replace(/^data:[^,]*,/, ''), 'base64'),
      };
      requests.push(received);
      handler(received, res, requests.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function completion(top: TopLogprob[]): unknown {
  const first = top[0] ?? { token: '', logprob: 0 };
  return {
    id: 'cmpl-1',
    object: 'chat.completion',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: first.token },
        logprobs: { content: [{ token: first.token, logprob: first.logprob, top_logprobs: top }] },
        finish_reason: 'length',
      },
    ],
  };
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

const CONFIDENT_REAL: TopLogprob[] = [
  { token: 'real', logprob: -0.1 },
  { token: 'Real', logprob: -0.3 },
  { token: 'fake', logprob: -2.5 },
  { token: 'the', logprob: -3 },
  { token: 'Fake', logprob: -3.5 },
];
// real side = (−0.1 − 0.3)/2 = −0.2, fake side = (−2.5 − 3.5)/2 = −3, P(real) = 1/(1 + e^−2.8) ≈ 0.9426758.
const CONFIDENT_REAL_P = 1 / (1 + Math.exp(-2.8));

async function withDetector(
  handler: Handler,
  options: Partial<OpenAiLogprobDetectorOptions>,
  body: (detector: OpenAiLogprobDetector, server: TestServer) => Promise<void>,
): Promise<void> {
  const server = await serve(handler);
  const detector = new OpenAiLogprobDetector({
    name: 'forensic-chat',
    baseUrl: server.baseUrl,
    model: 'Forensic-Chat',
    backoffMs: 1,
    ...options,
  });
  try {
    await body(detector, server);
  } finally {
    await detector.close();
    await server.close();
  }
}

function assertError(result: unknown, pattern: RegExp): string {
  const r = result as { ok: boolean; error?: string };
  assert.equal(r.ok, false, `expected an error item, got ${JSON.stringify(result)}`);
  assert.match(r.error ?? '', pattern);
  return r.error ?? '';
}

describe('pRealFromTopLogprobs', () => {
  it('averages each pair, softmaxes over [fake, real] and ignores other tokens', () => {
    assert.ok(Math.abs(pRealFromTopLogprobs(CONFIDENT_REAL) - 0.9426758) < 1e-7);
    // real −1 and Real −3 average to −2, equal to fake alone → exactly one half.
    assert.equal(
      pRealFromTopLogprobs([
        { token: 'real', logprob: -1 },
        { token: 'Real', logprob: -3 },
        { token: 'fake', logprob: -2 },
      ]),
      0.5,
    );
  });

  it('keeps the most likely of duplicate token strings and matches tokens exactly', () => {
    const top = [
      { token: 'real', logprob: -4 },
      { token: 'real', logprob: -1 },
      { token: ' fake', logprob: -0.01 },
      { token: 'fake', logprob: -2 },
    ];
    assert.ok(Math.abs(pRealFromTopLogprobs(top) - 1 / (1 + Math.exp(-1))) < 1e-12);
    assert.throws(
      () =>
        pRealFromTopLogprobs([
          { token: ' real', logprob: -0.1 },
          { token: 'REAL', logprob: -1 },
        ]),
      /none of real\/Real\/fake\/Fake/,
    );
  });
});

describe('sniffImageMime', () => {
  it('recognises JPEG, PNG and WebP by magic bytes only', () => {
    assert.equal(sniffImageMime(jpeg()), 'image/jpeg');
    assert.equal(sniffImageMime(png()), 'image/png');
    assert.equal(sniffImageMime(webp()), 'image/webp');
    assert.equal(sniffImageMime(Buffer.from('GIF89a')), null);
    assert.equal(sniffImageMime(Buffer.from('RIFF\x24\x00\x00\x00WAVE')), null);
    assert.equal(sniffImageMime(Buffer.alloc(0)), null);
  });
});

describe('OpenAiLogprobDetector', () => {
  it('sends the official request shape and turns the returned logprobs into P(real)', async () => {
    await withDetector(
      (_req, res) => reply(res, 200, completion(CONFIDENT_REAL)),
      {},
      async (detector, server) => {
        const results = await detector.scoreEncoded([jpeg(1), png(2), webp(3)]);
        assert.equal(results.length, 3);
        for (const r of results) {
          assert.ok(r.ok, JSON.stringify(r));
          assert.ok(Math.abs(r.pReal - CONFIDENT_REAL_P) < 1e-12);
        }
        assert.equal(server.requests.length, 3);
        const byTag = new Map(server.requests.map((q) => [q.image.at(-1), q]));
        const first = byTag.get(1);
        assert.ok(first);
        assert.equal(first.url, '/v1/chat/completions');
        assert.equal(first.headers.authorization, undefined);
        assert.equal(first.body.model, 'Forensic-Chat');
        assert.equal(first.body.max_tokens, 1);
        assert.equal(first.body.temperature, 0);
        assert.equal(first.body.logprobs, true);
        assert.equal(first.body.top_logprobs, 20);
        assert.equal(first.body.messages.length, 1);
        assert.equal(first.body.messages[0].role, 'user');
        const [imagePart, textPart] = first.body.messages[0].content;
        assert.equal(imagePart.type, 'image_url');
        assert.ok(imagePart.image_url.url.startsWith('data:image/jpeg;base64,'));
        assert.deepEqual(first.image, jpeg(1));
        assert.equal(textPart.type, 'text');
        assert.match(textPart.text, /real/);
        assert.match(textPart.text, /fake/);
        assert.ok(byTag.get(2)?.body.messages[0].content[0].image_url.url.startsWith('data:image/png;base64,'));
        assert.ok(byTag.get(3)?.body.messages[0].content[0].image_url.url.startsWith('data:image/webp;base64,'));
      },
    );
  });

  it('handles tokens missing from top_logprobs', async () => {
    const cases: Record<number, TopLogprob[]> = {
      // No Real, no Fake: each pair is its single member. 1/(1 + e^−1) ≈ 0.7310586.
      1: [
        { token: 'real', logprob: -0.5 },
        { token: 'fake', logprob: -1.5 },
      ],
      // Only the fake pair: P(real) = 0.
      2: [
        { token: 'fake', logprob: -0.1 },
        { token: 'Fake', logprob: -2 },
      ],
      // Only Real: P(real) = 1.
      3: [{ token: 'Real', logprob: -0.7 }],
      // None of the four.
      4: [
        { token: 'yes', logprob: -0.1 },
        { token: ' real', logprob: -1 },
      ],
    };
    await withDetector(
      (req, res) => reply(res, 200, completion(cases[req.image.at(-1) ?? 0] ?? [])),
      {},
      async (detector) => {
        const [a, b, c, d] = await detector.scoreEncoded([jpeg(1), jpeg(2), jpeg(3), jpeg(4)]);
        assert.ok(a?.ok && Math.abs(a.pReal - 0.7310585786300049) < 1e-12, JSON.stringify(a));
        assert.deepEqual(b, { ok: true, pReal: 0 });
        assert.deepEqual(c, { ok: true, pReal: 1 });
        assertError(d, /image 3: .*endpoint returned none of real\/Real\/fake\/Fake in top_logprobs/);
      },
    );
  });

  it('retries a 429, honouring Retry-After: 0 instead of its own backoff', { timeout: 10_000 }, async () => {
    await withDetector(
      (_req, res, count) =>
        count === 1
          ? reply(res, 429, { error: 'slow down' }, { 'retry-after': '0' })
          : reply(res, 200, completion(CONFIDENT_REAL)),
      // Were Retry-After ignored, the first retry would wait at least 30 s and the test would time out.
      { backoffMs: 60_000 },
      async (detector, server) => {
        const [r] = await detector.scoreEncoded([jpeg()]);
        assert.ok(r?.ok);
        assert.equal(server.requests.length, 2);
      },
    );
  });

  it('retries a 500 and then succeeds', async () => {
    await withDetector(
      (_req, res, count) =>
        count === 1 ? reply(res, 500, 'Traceback: CUDA error') : reply(res, 200, completion(CONFIDENT_REAL)),
      {},
      async (detector, server) => {
        const [r] = await detector.scoreEncoded([jpeg()]);
        assert.ok(r?.ok && Math.abs(r.pReal - CONFIDENT_REAL_P) < 1e-12);
        assert.equal(server.requests.length, 2);
      },
    );
  });

  it('gives up on a persistent 5xx after maxRetries retries', async () => {
    await withDetector(
      (_req, res) => reply(res, 503, 'overloaded'),
      { maxRetries: 2 },
      async (detector, server) => {
        const [r] = await detector.scoreEncoded([jpeg()]);
        assertError(r, /HTTP 503: overloaded \(gave up after 3 attempts\)/);
        assert.equal(server.requests.length, 3);
      },
    );
  });

  it('does not retry a 400', async () => {
    await withDetector(
      (_req, res) => reply(res, 400, { error: { message: 'image too large' } }),
      {},
      async (detector, server) => {
        const [r] = await detector.scoreEncoded([jpeg()]);
        const error = assertError(r, /HTTP 400: .*image too large/);
        assert.doesNotMatch(error, /attempts/);
        assert.equal(server.requests.length, 1);
      },
    );
  });

  it('times out on a server that never answers, retries, then reports an error item', async () => {
    await withDetector(
      () => {
        // Never answer.
      },
      { timeoutMs: 100, maxRetries: 2 },
      async (detector, server) => {
        const [r] = await detector.scoreEncoded([jpeg()]);
        assertError(r, /no complete answer within 100 ms \(gave up after 3 attempts\)/);
        assert.equal(server.requests.length, 3);
      },
    );
  });

  it('retries a refused connection and names the cause', async () => {
    const server = await serve(() => undefined);
    await server.close();
    const detector = new OpenAiLogprobDetector({ name: 'x', baseUrl: server.baseUrl, model: 'm', maxRetries: 1, backoffMs: 1 });
    const [r] = await detector.scoreEncoded([jpeg()]);
    assertError(r, /ECONNREFUSED.*gave up after 2 attempts/);
  });

  it('says clearly when a 200 response carries no logprobs, without retrying', async () => {
    await withDetector(
      (_req, res) =>
        reply(res, 200, { choices: [{ index: 0, message: { role: 'assistant', content: 'real' }, logprobs: null }] }),
      {},
      async (detector, server) => {
        const [r] = await detector.scoreEncoded([jpeg()]);
        assertError(r, /did not return logprobs.*vLLM/);
        assert.equal(server.requests.length, 1);
      },
    );
  });

  it('reports a non-image as an error item without a request, and still scores the rest', async () => {
    await withDetector(
      (_req, res) => reply(res, 200, completion(CONFIDENT_REAL)),
      {},
      async (detector, server) => {
        const [bad, good] = await detector.scoreEncoded([Buffer.from('GIF89a\x01\x00'), png()]);
        assertError(bad, /^image 0: not a JPEG, PNG or WebP image/);
        assert.ok(good?.ok);
        assert.equal(server.requests.length, 1);
      },
    );
  });

  it('sends the bearer token but never puts the key in an error', async () => {
    const apiKey = 'sk-test-5ecret-KEY';
    await withDetector(
      (req, res, count) => {
        // The first answer echoes the header back, as some proxies do; the second is a normal success.
        if (count === 1) reply(res, 401, `invalid token in header: ${req.headers.authorization}`);
        else reply(res, 200, completion(CONFIDENT_REAL));
      },
      { apiKey },
      async (detector, server) => {
        const [denied] = await detector.scoreEncoded([jpeg()]);
        const error = assertError(denied, /HTTP 401: invalid token in header: Bearer \[redacted\]/);
        assert.ok(!error.includes(apiKey));
        const [ok] = await detector.scoreEncoded([jpeg()]);
        assert.ok(ok?.ok);
        for (const q of server.requests) assert.equal(q.headers.authorization, `Bearer ${apiKey}`);
      },
    );
    assert.throws(
      () => new OpenAiLogprobDetector({ name: 'x', baseUrl: 'http://127.0.0.1:1/v1', model: 'm', apiKey: 'sk bad\n' }),
      (err: Error) => /apiKey must be non-empty printable ASCII/.test(err.message) && !err.message.includes('sk bad'),
    );
  });

  it('keeps at most `concurrency` requests in flight across concurrent calls, and uses them all', async () => {
    const concurrency = 2;
    let inFlight = 0;
    let maxInFlight = 0;
    const countingFetch: typeof fetch = async (input, init) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    // The server holds requests until `concurrency` of them are waiting, then answers them together: a detector
    // that sent fewer would hang, one that sent more would show up in maxInFlight.
    const held: ServerResponse[] = [];
    await withDetector(
      (_req, res) => {
        held.push(res);
        if (held.length === concurrency) for (const r of held.splice(0)) reply(r, 200, completion(CONFIDENT_REAL));
      },
      { concurrency, fetchImpl: countingFetch },
      async (detector, server) => {
        const [a, b] = await Promise.all([
          detector.scoreEncoded([jpeg(1), jpeg(2), jpeg(3)]),
          detector.scoreEncoded([png(4), png(5), png(6)]),
        ]);
        assert.ok([...(a ?? []), ...(b ?? [])].every((r) => r.ok));
        assert.equal(server.requests.length, 6);
        assert.equal(maxInFlight, concurrency);
      },
    );
  });

  it('rejects the whole call when the caller aborts', async () => {
    const controller = new AbortController();
    await withDetector(
      () => controller.abort(new Error('caller gave up')),
      { timeoutMs: 60_000 },
      async (detector) => {
        await assert.rejects(detector.scoreEncoded([jpeg()], controller.signal), /caller gave up/);
      },
    );
  });

  it('resolves close() and refuses later calls', async () => {
    const detector = new OpenAiLogprobDetector({ name: 'x', baseUrl: 'http://127.0.0.1:1/v1', model: 'm' });
    await detector.close();
    await assert.rejects(detector.scoreEncoded([jpeg()]), /x: detector is closed/);
  });

  it('validates its options, naming the field', () => {
    const base = { name: 'x', baseUrl: 'http://127.0.0.1:1/v1', model: 'm' };
    assert.throws(() => new OpenAiLogprobDetector({ ...base, baseUrl: 'ftp://host' }), /"x": baseUrl must be an http\(s\) URL/);
    assert.throws(() => new OpenAiLogprobDetector({ ...base, model: '' }), /model must be a non-empty string/);
    assert.throws(() => new OpenAiLogprobDetector({ ...base, concurrency: 0 }), /concurrency must be an integer ≥ 1, got 0/);
    assert.throws(() => new OpenAiLogprobDetector({ ...base, timeoutMs: 0 }), /timeoutMs must be a number of ms > 0/);
    assert.throws(() => new OpenAiLogprobDetector({ ...base, maxRetries: -1 }), /maxRetries must be an integer ≥ 0/);
  });
});

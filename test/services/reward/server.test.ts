import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { parse, stringify } from 'yaml';
import { parseListen, RewardService, startRewardService } from '../../../services/reward/server';
import { loadConfig } from '../../../configs/load';
import { OnnxDetector } from '../../../infra/detectors/onnx-detector';
import { AlignmentScorer } from '../../../infra/mini/alignment';
import { RewardScorer } from '../../../infra/rewards/reward-scorer';
import { writeTinyAlignment } from '../../helpers/tiny-align';
import { writeTinyDetector } from '../../helpers/tiny-detector';

const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-reward-svc-'));
const detA = () => writeTinyDetector(dir, { size: 8, name: 'tiny-a' });
const detB = () => writeTinyDetector(dir, { size: 8, name: 'tiny-b' });
let scorer: RewardScorer;
let service: RewardService;
let base: string;
let images: Buffer[];
const prompts = ['a red cat', 'blue dog', 'cat'];

interface ScoreReply {
  keys: string[];
  results: Array<{ scores: Record<string, number>; errors?: Record<string, string> }>;
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** A raw request that declares `declared` bytes but sends only `send`; resolves with the status it gets. */
function partialPost(url: string, declared: number | null, send: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (declared !== null) headers['content-length'] = declared;
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) => reject(err)); // only reached if no response came first
    req.write(Buffer.alloc(send, 0x20));
    if (declared === null) req.end(); // chunked: the whole (oversized) body is sent
  });
}

async function metricsText(headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${base}/metrics`, { headers });
  assert.equal(res.status, 200);
  return await res.text();
}

function metric(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  assert.ok(found, `metric ${line} missing`);
  return Number(found.slice(line.length + 1));
}

describe('reward service over HTTP', () => {
  before(async () => {
    const [a, b, alignment] = await Promise.all([
      OnnxDetector.load(detA()),
      OnnxDetector.load(detB()),
      AlignmentScorer.load(writeTinyAlignment(dir)),
    ]);
    scorer = new RewardScorer({
      detectors: [
        { key: 'tiny-a', detector: a },
        { key: 'tiny-b', detector: b },
      ],
      alignment,
      engine: { maxBatch: 4, maxWaitMs: 2 },
    });
    service = new RewardService({ scorer, maxBodyBytes: 256 * 1024, log: () => {} });
    ({ url: base } = await service.listen('127.0.0.1', 0));
    images = await Promise.all(
      [
        [255, 255, 255],
        [20, 90, 200],
        [0, 0, 0],
      ].map(([r, g, b]) =>
        sharp({ create: { width: 30, height: 20, channels: 3, background: { r: r ?? 0, g: g ?? 0, b: b ?? 0 } } })
          .png()
          .toBuffer(),
      ),
    );
  });
  after(async () => {
    await service.close();
    await scorer.close();
  });

  it('gives the same scores for JSON and multipart, equal to the models run directly', async () => {
    const json = await postJson(`${base}/v1/score`, { images: images.map((b) => b.toString('base64')), prompts });
    assert.equal(json.status, 200);
    const fromJson = (await json.json()) as ScoreReply;
    const form = new FormData();
    images.forEach((img, i) => {
      form.append('image', new Blob([img], { type: 'image/png' }), `img${i}.png`);
      form.append('prompt', prompts[i] ?? '');
    });
    const multi = await fetch(`${base}/v1/score`, { method: 'POST', body: form });
    assert.equal(multi.status, 200);
    const fromMultipart = (await multi.json()) as ScoreReply;
    assert.deepEqual(fromMultipart, fromJson);
    assert.deepEqual(fromJson.keys, ['tiny-a', 'tiny-b', 'alignment']);

    const direct = await OnnxDetector.load(detA());
    const want = await direct.scoreEncoded(images);
    await direct.close();
    const cosines = await (scorer.alignment as AlignmentScorer).score(
      images,
      prompts.map((text) => ({ text })),
    );
    fromJson.results.forEach((r, i) => {
      const w = want[i];
      assert.ok(w?.ok);
      assert.equal(r.scores['tiny-a'], w.pReal);
      assert.equal(r.scores['tiny-b'], w.pReal);
      assert.equal(r.scores.alignment, cosines[i]);
      assert.equal(r.errors, undefined);
    });
  });

  it('reports a bad image as errors on that item only, and a missing prompt as an alignment error', async () => {
    const res = await postJson(`${base}/v1/score`, {
      images: [
        images[0]?.toString('base64'),
        Buffer.from('hello').toString('base64'),
        `data:image/png;base64,${images[1]?.toString('base64')}`,
      ],
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as ScoreReply;
    assert.equal(typeof body.results[0]?.scores['tiny-a'], 'number');
    assert.equal(typeof body.results[2]?.scores['tiny-b'], 'number');
    assert.deepEqual(Object.keys(body.results[1]?.scores ?? {}), []);
    assert.match(body.results[1]?.errors?.['tiny-a'] ?? '', /not a JPEG, PNG or WebP image/);
    assert.match(body.results[1]?.errors?.['tiny-b'] ?? '', /not a JPEG, PNG or WebP image/);
    assert.equal(body.results[0]?.errors?.alignment, 'no prompt given for this image');
    assert.equal(body.results[0]?.errors?.['tiny-a'], undefined);
  });

  it('answers 400 naming the field, and 415/404/405 for the wrong request', async () => {
    const cases: Array<[Response, number, RegExp]> = [
      [
        await fetch(`${base}/v1/score`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"images": [',
        }),
        400,
        /^body: malformed JSON/,
      ],
      [await postJson(`${base}/v1/score`, { images: 'abc' }), 400, /^images: expected an array of base64 strings/],
      [await postJson(`${base}/v1/score`, { images: [] }), 400, /^images: expected at least one image/],
      [await postJson(`${base}/v1/score`, { images: ['aGVsbG8=', 7] }), 400, /^images\[1\]: expected a base64 string/],
      [await postJson(`${base}/v1/score`, { images: ['not base64!'] }), 400, /^images\[0\]: expected a base64 string/],
      [
        await postJson(`${base}/v1/score`, { images: ['aGVsbG8='], prompts: ['a', 'b'] }),
        400,
        /^prompts: expected one prompt per image \(1\), got 2/,
      ],
      [await postJson(`${base}/v1/score`, { images: ['aGVsbG8='], extra: 1 }), 400, /unknown field\(s\) extra/],
      [
        await postJson(`${base}/v1/score`, { images: ['aGVsbG8='], prompts: [{ txt: 'a' }] }),
        400,
        /^prompts\[0\]: expected a string or \{text, category\?\}/,
      ],
      [
        await fetch(`${base}/v1/score`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }),
        415,
        /Content-Type: expected application\/json or multipart\/form-data/,
      ],
      [await fetch(`${base}/v1/score`), 405, /takes POST, got GET/],
      [await fetch(`${base}/v2/score`), 404, /no such endpoint \/v2\/score/],
    ];
    const form = new FormData();
    form.append('image', new Blob([images[0] as Buffer]), 'a.png');
    form.append('prompt', 'a');
    form.append('prompt', 'b');
    cases.push([
      await fetch(`${base}/v1/score`, { method: 'POST', body: form }),
      400,
      /^prompts: expected one prompt per image \(1\), got 2/,
    ]);
    const odd = new FormData();
    odd.append('picture', new Blob([images[0] as Buffer]), 'a.png');
    cases.push([await fetch(`${base}/v1/score`, { method: 'POST', body: odd }), 400, /^multipart: unexpected part "picture"/]);
    for (const [res, status, message] of cases) {
      const body = (await res.json()) as { error: string };
      assert.equal(res.status, status, body.error);
      assert.match(body.error, message);
    }
  });

  it('refuses a body over the limit with 413 without reading it', async () => {
    assert.equal(await partialPost(`${base}/v1/score`, 50 * 1024 * 1024, 1024), 413);
    assert.equal(await partialPost(`${base}/v1/score`, null, 300 * 1024), 413);
    // The service still answers afterwards.
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  it('serves /healthz with the models and provider, and /metrics with the counts', async () => {
    const health = (await (await fetch(`${base}/healthz`)).json()) as {
      status: string;
      provider: string;
      keys: string[];
      models: Array<{ key: string; provider: string }>;
    };
    assert.equal(health.status, 'ok');
    assert.equal(health.provider, 'cpu');
    assert.deepEqual(health.keys, ['tiny-a', 'tiny-b', 'alignment']);
    assert.deepEqual(
      health.models.map((m) => [m.key, m.provider]),
      [
        ['tiny-a', 'cpu'],
        ['tiny-b', 'cpu'],
        ['alignment', 'cpu'],
      ],
    );

    const before = await metricsText();
    const ok0 = metric(before, 'realgen_reward_requests_total{code="200"}');
    const images0 = metric(before, 'realgen_reward_images_total');
    const batches0 = metric(before, 'realgen_reward_batch_size_count{key="tiny-a"}');
    const body = { images: images.map((b) => b.toString('base64')), prompts };
    const replies = await Promise.all(Array.from({ length: 5 }, () => postJson(`${base}/v1/score`, body)));
    assert.ok(replies.every((r) => r.status === 200));
    await Promise.all(replies.map((r) => r.arrayBuffer()));
    await postJson(`${base}/v1/score`, { images: ['aGVsbG8='], prompts: ['a', 'b'] });
    const text = await metricsText();
    assert.equal(metric(text, 'realgen_reward_requests_total{code="200"}'), ok0 + 5);
    assert.ok(metric(text, 'realgen_reward_requests_total{code="400"}') >= 1);
    assert.equal(metric(text, 'realgen_reward_images_total'), images0 + 15);
    assert.ok(metric(text, 'realgen_reward_batch_size_count{key="tiny-a"}') > batches0);
    assert.equal(
      metric(text, 'realgen_reward_batch_size_bucket{key="tiny-a",le="+Inf"}'),
      metric(text, 'realgen_reward_batch_size_count{key="tiny-a"}'),
    );
    assert.ok(
      metric(text, 'realgen_reward_batch_size_bucket{key="tiny-a",le="4"}') ===
        metric(text, 'realgen_reward_batch_size_count{key="tiny-a"}'),
    );
    assert.ok(metric(text, 'realgen_reward_item_errors_total{key="tiny-a"}') >= 1);
    const p50 = metric(text, 'realgen_reward_request_duration_seconds{quantile="0.5"}');
    const p99 = metric(text, 'realgen_reward_request_duration_seconds{quantile="0.99"}');
    assert.ok(p50 > 0 && p99 >= p50);
    assert.match(text, /# TYPE realgen_reward_batch_size histogram/);
  });

  it('refuses a held-out detector as a reward', async () => {
    const file = path.join(dir, 'heldout.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(detA(), 'utf8')), name: 'judge', role: 'heldout' }));
    const heldout = await OnnxDetector.load(file);
    assert.throws(
      () => new RewardScorer({ detectors: [{ key: 'judge', detector: heldout }] }),
      /"judge" \(judge\) is a held-out detector \(role heldout\)/,
    );
    await heldout.close();
  });

  it('parses listen addresses', () => {
    assert.deepEqual(parseListen('127.0.0.1:18080'), { host: '127.0.0.1', port: 18080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.throws(() => parseListen('18080'), /listen: expected host:port/);
  });
});

/** The mini preset with the given reward section, written into `cfgDir` (model paths absolute, tiny models allowed). */
function writeRunConfig(cfgDir: string, reward: unknown): string {
  const configs = path.join(__dirname, '../../../configs');
  const raw = parse(readFileSync(path.join(configs, 'mini.yaml'), 'utf8')) as {
    reward: unknown;
    models: Record<string, unknown>;
    evaluation: { detectors: Array<{ manifest: string }> };
  };
  for (const key of ['generator', 'tokenizer', 'descriptors']) raw.models[key] = path.resolve(configs, String(raw.models[key]));
  raw.models.roots = [dir];
  for (const d of raw.evaluation.detectors) d.manifest = path.resolve(configs, d.manifest);
  raw.reward = reward;
  const cfgFile = path.join(cfgDir, 'run.yaml');
  writeFileSync(cfgFile, stringify(raw));
  return cfgFile;
}

describe('reward service from a run config, with a bearer token', () => {
  it('answers 401 without the token and 200 with it', async () => {
    const cfgDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-reward-cfg-'));
    writeFileSync(path.join(cfgDir, 'token.txt'), 's3cret-token\n');
    const cfgFile = writeRunConfig(cfgDir, {
      detectors: [{ name: 'tiny-a', manifest: detA() }],
      alignment: { manifest: writeTinyAlignment(cfgDir) },
      service: { listen: '127.0.0.1:1', maxBatch: 8, maxWaitMs: 1, tokenFile: 'token.txt' },
    });
    const lines: string[] = [];
    const running = await startRewardService(loadConfig(cfgFile), { listen: '127.0.0.1:0', log: (l) => lines.push(l) });
    try {
      assert.match(lines[0] ?? '', /^reward service on http:\/\/127\.0\.0\.1:\d+ \(execution provider cpu\)/);
      assert.ok(!lines.join('\n').includes('s3cret-token'), 'the token must never be logged');
      const body = {
        images: [
          (
            await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
              .png()
              .toBuffer()
          ).toString('base64'),
        ],
        prompts: ['cat'],
      };
      const none = await postJson(`${running.url}/v1/score`, body);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal((await postJson(`${running.url}/v1/score`, body, { authorization: 'Bearer s3cret-tokeN' })).status, 401);
      assert.equal((await fetch(`${running.url}/metrics`)).status, 401);
      const ok = await postJson(`${running.url}/v1/score`, body, { authorization: 'Bearer s3cret-token' });
      assert.equal(ok.status, 200);
      const reply = (await ok.json()) as ScoreReply;
      assert.deepEqual(reply.keys, ['tiny-a', 'alignment']);
      assert.equal(typeof reply.results[0]?.scores.alignment, 'number');
    } finally {
      await running.close();
    }
  });
});

describe('reward service: one client cannot stall the rest (issue 12 item 4)', () => {
  let own: RewardScorer;
  let svc: RewardService;
  let url: string;
  const logs: string[] = [];
  let png: Buffer;
  before(async () => {
    // Detectors only: the batching engines are what requests share.
    own = new RewardScorer({
      detectors: [{ key: 'tiny-a', detector: await OnnxDetector.load(detA()) }],
      engine: { maxBatch: 8, maxWaitMs: 1, decodeConcurrency: 2 },
    });
    svc = new RewardService({
      scorer: own,
      maxBodyBytes: 8 * 1024 * 1024,
      maxImagesPerRequest: 4000,
      bodyTimeoutMs: 3000,
      log: (l) => logs.push(l),
    });
    ({ url } = await svc.listen('127.0.0.1', 0));
    png = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
  });
  after(async () => {
    await svc.close();
    await own.close();
  });

  it('refuses more images than the per-request limit with 413 naming the limit, JSON and multipart', async () => {
    // A service of its own with a small limit and the default body timeout: the refusal is about the count, and a
    // short body is not at the mercy of a loaded machine's timing.
    const limited = new RewardService({ scorer: own, maxImagesPerRequest: 10, log: () => {} });
    const { url: limitedUrl } = await limited.listen('127.0.0.1', 0);
    try {
      const json = await postJson(`${limitedUrl}/v1/score`, { images: new Array(11).fill(png.toString('base64')) });
      assert.equal(json.status, 413);
      assert.match(((await json.json()) as { error: string }).error, /images: 11 images; the limit is 10 images per request/);
      const form = new FormData();
      for (let i = 0; i < 11; i++) form.append('image', new Blob([png]), `${i}.png`);
      const multi = await fetch(`${limitedUrl}/v1/score`, { method: 'POST', body: form });
      assert.equal(multi.status, 413);
      assert.match(((await multi.json()) as { error: string }).error, /the limit is 10 images per request/);
    } finally {
      await limited.close();
    }
  });

  it('serves a 1-image request promptly while a 3000-image request is being scored', async () => {
    const stats = () => own.engineStats()['tiny-a']!.images;
    const before0 = stats();
    const t0 = performance.now();
    const big = postJson(`${url}/v1/score`, { images: new Array(3000).fill(png.toString('base64')) }).then(async (r) => {
      assert.equal(r.status, 200);
      await r.json();
      return performance.now();
    });
    // Wait (bounded) until the big request is being scored, then send the small one.
    const deadline = Date.now() + 30_000;
    while (stats() < before0 + 50) {
      assert.ok(Date.now() < deadline, 'the big request never started scoring');
      await new Promise((r) => setImmediate(r));
    }
    const s0 = performance.now();
    const small = await postJson(`${url}/v1/score`, { images: [png.toString('base64')] });
    const smallMs = performance.now() - s0;
    assert.equal(small.status, 200);
    const bigDone = await big;
    const bigMs = bigDone - t0;
    const left = bigDone - performance.now();
    assert.ok(bigDone > s0 + smallMs, 'the small request finished first');
    assert.ok(
      smallMs < bigMs / 5,
      `1-image request took ${smallMs.toFixed(0)} ms while the 3000-image one took ${bigMs.toFixed(0)} ms (${left.toFixed(0)})`,
    );
  });

  it('answers 408 to a body that does not arrive in time (slowloris) and closes the connection', async () => {
    const t0 = Date.now();
    assert.equal(await partialPost(`${url}/v1/score`, 1000, 10), 408);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('caps open connections: one past the cap is closed at once, and serving resumes when one closes', async () => {
    const capped = new RewardService({ scorer: own, maxConnections: 2, log: () => {} });
    const { port } = await capped.listen('127.0.0.1', 0);
    const connect = () =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
    // getConnections answers on nextTick: yield to I/O first so a polling loop lets sockets close.
    const count = async () => {
      await new Promise((r) => setImmediate(r));
      return await new Promise<number>((resolve) => capped.server.getConnections((_e, n) => resolve(n)));
    };
    const open = [await connect(), await connect()];
    try {
      const deadline = Date.now() + 10_000;
      while ((await count()) < 2) assert.ok(Date.now() < deadline, 'connections not counted');
      // The third connection is accepted by the kernel and closed by the server without an answer.
      const third = await connect();
      const answer = await new Promise<string>((resolve) => {
        let got = '';
        third.on('data', (d: Buffer) => (got += d.toString()));
        third.once('close', () => resolve(got));
        third.on('error', () => {});
        third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      assert.equal(answer, '', 'no answer past the cap');
      open.pop()!.destroy();
      while ((await count()) > 1) assert.ok(Date.now() < deadline, 'connection not released');
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
      assert.equal(status, 200);
    } finally {
      for (const s of open) s.destroy();
      capped.server.closeAllConnections();
      await capped.close();
    }
  });

  it('counts a client that disconnects mid-body as 499, not as a 500 "scoring failed"', async () => {
    const metricsOf = async () => await (await fetch(`${url}/metrics`)).text();
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${url}/v1/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': 5000 },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(100, 0x20), () => {
        req.destroy();
        resolve();
      });
      req.on('response', () => reject(new Error('no response expected')));
    });
    const deadline = Date.now() + 10_000;
    let text = await metricsOf();
    while (!/realgen_reward_requests_total\{code="499"\} 1/.test(text)) {
      assert.ok(Date.now() < deadline, text);
      text = await metricsOf();
    }
    assert.ok(!/code="500"/.test(text));
    assert.ok(!logs.some((l) => /scoring failed/.test(l)), logs.join('\n'));
  });

  it('refuses a non-loopback bind without a token unless insecure', async () => {
    const cfgDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-reward-bind-'));
    const cfgFile = writeRunConfig(cfgDir, {
      detectors: [{ name: 'tiny-a', manifest: detA() }],
      service: { listen: '0.0.0.0:0' },
    });
    await assert.rejects(
      startRewardService(loadConfig(cfgFile), { log: () => {} }),
      /refusing to bind 0\.0\.0\.0 \(not loopback\) without a token.*--insecure/,
    );
    const lines: string[] = [];
    const running = await startRewardService(loadConfig(cfgFile), { insecure: true, log: (l) => lines.push(l) });
    await running.close();
    assert.ok(lines.some((l) => /--insecure: listening on 0\.0\.0\.0 without a token/.test(l)));
  });
});

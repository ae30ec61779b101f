import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
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
  return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
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
    const [a, b, alignment] = await Promise.all([OnnxDetector.load(detA()), OnnxDetector.load(detB()), AlignmentScorer.load(writeTinyAlignment(dir))]);
    scorer = new RewardScorer({ detectors: [{ key: 'tiny-a', detector: a }, { key: 'tiny-b', detector: b }], alignment, engine: { maxBatch: 4, maxWaitMs: 2 } });
    service = new RewardService({ scorer, maxBodyBytes: 256 * 1024, log: () => {} });
    ({ url: base } = await service.listen('127.0.0.1', 0));
    images = await Promise.all(
      [
        [255, 255, 255],
        [20, 90, 200],
        [0, 0, 0],
      ].map(([r, g, b]) => sharp({ create: { width: 30, height: 20, channels: 3, background: { r: r ?? 0, g: g ?? 0, b: b ?? 0 } } }).png().toBuffer()),
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
    const cosines = await (scorer.alignment as AlignmentScorer).score(images, prompts.map((text) => ({ text })));
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
    const res = await postJson(`${base}/v1/score`, { images: [images[0]?.toString('base64'), Buffer.from('hello').toString('base64'), `data:image/png;base64,${images[1]?.toString('base64')}`] });
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
      [await fetch(`${base}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"images": [' }), 400, /^body: malformed JSON/],
      [await postJson(`${base}/v1/score`, { images: 'abc' }), 400, /^images: expected an array of base64 strings/],
      [await postJson(`${base}/v1/score`, { images: [] }), 400, /^images: expected at least one image/],
      [await postJson(`${base}/v1/score`, { images: ['aGVsbG8=', 7] }), 400, /^images\[1\]: expected a base64 string/],
      [await postJson(`${base}/v1/score`, { images: ['not base64!'] }), 400, /^images\[0\]: expected a base64 string/],
      [await postJson(`${base}/v1/score`, { images: ['aGVsbG8='], prompts: ['a', 'b'] }), 400, /^prompts: expected one prompt per image \(1\), got 2/],
      [await postJson(`${base}/v1/score`, { images: ['aGVsbG8='], extra: 1 }), 400, /unknown field\(s\) extra/],
      [await postJson(`${base}/v1/score`, { images: ['aGVsbG8='], prompts: [{ txt: 'a' }] }), 400, /^prompts\[0\]: expected a string or \{text, category\?\}/],
      [await fetch(`${base}/v1/score`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }), 415, /Content-Type: expected application\/json or multipart\/form-data/],
      [await fetch(`${base}/v1/score`), 405, /takes POST, got GET/],
      [await fetch(`${base}/v2/score`), 404, /no such endpoint \/v2\/score/],
    ];
    const form = new FormData();
    form.append('image', new Blob([images[0] as Buffer]), 'a.png');
    form.append('prompt', 'a');
    form.append('prompt', 'b');
    cases.push([await fetch(`${base}/v1/score`, { method: 'POST', body: form }), 400, /^prompts: expected one prompt per image \(1\), got 2/]);
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
    const health = (await (await fetch(`${base}/healthz`)).json()) as { status: string; provider: string; keys: string[]; models: Array<{ key: string; provider: string }> };
    assert.equal(health.status, 'ok');
    assert.equal(health.provider, 'cpu');
    assert.deepEqual(health.keys, ['tiny-a', 'tiny-b', 'alignment']);
    assert.deepEqual(health.models.map((m) => [m.key, m.provider]), [['tiny-a', 'cpu'], ['tiny-b', 'cpu'], ['alignment', 'cpu']]);

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
    assert.equal(metric(text, 'realgen_reward_batch_size_bucket{key="tiny-a",le="+Inf"}'), metric(text, 'realgen_reward_batch_size_count{key="tiny-a"}'));
    assert.ok(metric(text, 'realgen_reward_batch_size_bucket{key="tiny-a",le="4"}') === metric(text, 'realgen_reward_batch_size_count{key="tiny-a"}'));
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
    assert.throws(() => new RewardScorer({ detectors: [{ key: 'judge', detector: heldout }] }), /"judge" \(judge\) is a held-out detector \(role heldout\)/);
    await heldout.close();
  });

  it('parses listen addresses', () => {
    assert.deepEqual(parseListen('127.0.0.1:18080'), { host: '127.0.0.1', port: 18080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.throws(() => parseListen('18080'), /listen: expected host:port/);
  });
});

describe('reward service from a run config, with a bearer token', () => {
  it('answers 401 without the token and 200 with it', async () => {
    const cfgDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-reward-cfg-'));
    const raw = parse(readFileSync(path.join(__dirname, '../../../configs/mini.yaml'), 'utf8')) as Record<string, unknown> & { reward: unknown };
    raw.reward = {
      detectors: [{ name: 'tiny-a', manifest: detA() }],
      alignment: { manifest: writeTinyAlignment(cfgDir) },
      service: { listen: '127.0.0.1:1', maxBatch: 8, maxWaitMs: 1, tokenFile: 'token.txt' },
    };
    writeFileSync(path.join(cfgDir, 'token.txt'), 's3cret-token\n');
    const cfgFile = path.join(cfgDir, 'run.yaml');
    writeFileSync(cfgFile, stringify(raw));
    const lines: string[] = [];
    const running = await startRewardService(loadConfig(cfgFile), { listen: '127.0.0.1:0', log: (l) => lines.push(l) });
    try {
      assert.match(lines[0] ?? '', /^reward service on http:\/\/127\.0\.0\.1:\d+ \(execution provider cpu\)/);
      assert.ok(!lines.join('\n').includes('s3cret-token'), 'the token must never be logged');
      const body = { images: [(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer()).toString('base64')], prompts: ['cat'] };
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

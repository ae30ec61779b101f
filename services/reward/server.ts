/**
 * The reward service trainers call over HTTP/1.1, replacing RealGen's one-image-at-a-time pickle servers
 * (spec §2.3). One process hosts every reward model of the config; images from concurrent requests share batches.
 *
 *   POST /v1/score  JSON `{ images: [base64], prompts?: [string | {text, category?}] }`, or multipart/form-data with
 *                   parts `image` (files) and `prompt` (text), in order
 *                   → `{ keys: [...], results: [{ scores: {key: number}, errors?: {key: string} }] }`
 *   GET  /healthz   loaded models and their execution provider
 *   GET  /metrics   Prometheus text
 *
 * Binds to loopback unless told otherwise; a non-loopback bind needs a token file (or an explicit `insecure`).
 * With a token file, every endpoint wants `Authorization: Bearer <token>` (compared in constant time, never logged).
 *
 * One client cannot stall the others (docs/reward-service.md): a request carries at most `maxImagesPerRequest`
 * images (413 otherwise), images of concurrent requests are batched round-robin by request, at most
 * `maxConnections` connections are open, and a body must arrive within `bodyTimeoutMs` (408 otherwise). A client
 * that goes away mid-body is counted as status 499, not as a server error.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { applyEnvOverrides, type LoadedConfig } from '../../configs/load';
import { configPath } from '../../infra/mini/mini-world';
import {
  RewardScorer,
  type RewardItem,
  type RewardResult,
  type RewardScorerLoadOptions,
} from '../../infra/rewards/reward-scorer';
import { ServiceMetrics } from './metrics';
import { ClientGone, DEFAULT_MAX_IMAGES_PER_REQUEST, parseScoreRequest, readBody, RequestError } from './score-request';

/** Default largest request body: 64 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Default most open connections (trainer ranks × a few). */
export const DEFAULT_MAX_CONNECTIONS = 64;
/** Default time a request's headers and body have to arrive, ms. */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;
/** Status recorded (never sent) when the client closed the connection before its body was complete (nginx's 499). */
const CLIENT_CLOSED = 499;

export interface RewardServiceOptions {
  scorer: RewardScorer;
  /** Bearer token every request must carry; none when undefined. */
  token?: string;
  /** Largest request body in bytes; larger ones get 413 without being read. @default 64 MiB */
  maxBodyBytes?: number;
  /** Most images in one score request; more get 413 naming the limit. @default 1024 */
  maxImagesPerRequest?: number;
  /** Most connections open at once; further ones are closed at once. @default 64 */
  maxConnections?: number;
  /** Time a request's headers and body have to arrive, ms; a slower one gets 408 and is closed. @default 30000 */
  bodyTimeoutMs?: number;
  /** Where start-up lines and server errors go. @default console.error */
  log?: (line: string) => void;
}

export class RewardService {
  readonly server: http.Server;
  readonly metrics = new ServiceMetrics();
  private readonly tokenDigest: Buffer | null;
  private readonly maxBodyBytes: number;
  private readonly maxImages: number;
  private readonly bodyTimeoutMs: number;
  private readonly log: (line: string) => void;

  constructor(private readonly options: RewardServiceOptions) {
    this.tokenDigest = options.token === undefined ? null : digest(options.token);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxImages = options.maxImagesPerRequest ?? DEFAULT_MAX_IMAGES_PER_REQUEST;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    this.log = options.log ?? ((line) => console.error(line));
    // Node checks header/request deadlines on this interval; keep it well under the body timeout.
    const checkMs = Math.max(100, Math.min(1000, Math.floor(this.bodyTimeoutMs / 4)));
    this.server = http.createServer(
      { connectionsCheckingInterval: checkMs, headersTimeout: this.bodyTimeoutMs, requestTimeout: 0 },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => {
          this.log(`reward service: ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
          if (!res.headersSent) send(res, 500, { error: `internal error: ${(err as Error).message}` });
          else res.destroy();
        });
      },
    );
    this.server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  }

  get scorer(): RewardScorer {
    return this.options.scorer;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  async listen(host: string, port: number): Promise<{ host: string; port: number; url: string }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address() as AddressInfo;
    const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return { host: addr.address, port: addr.port, url: `http://${urlHost}:${addr.port}` };
  }

  /** Stops accepting connections and waits for in-flight requests. Does not close the scorer. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (this.tokenDigest !== null && !this.authorized(req)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return refuse(req, res, 401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
    }
    if (url.pathname === '/v1/score') {
      if (req.method !== 'POST') return refuse(req, res, 405, `${url.pathname} takes POST, got ${req.method}`, { Allow: 'POST' });
      return await this.score(req, res);
    }
    if (url.pathname === '/healthz' || url.pathname === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return refuse(req, res, 405, `${url.pathname} takes GET, got ${req.method}`, { Allow: 'GET' });
      if (url.pathname === '/healthz') return send(res, 200, this.health());
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(this.metrics.render(this.scorer.engineStats(), this.scorer.keys));
      return;
    }
    return refuse(req, res, 404, `no such endpoint ${url.pathname}; expected POST /v1/score, GET /healthz or GET /metrics`);
  }

  /** `/healthz` body. */
  health(): {
    status: 'ok';
    provider: 'cuda' | 'cpu';
    keys: string[];
    models: ReturnType<RewardScorer['describe']>;
    maxBodyBytes: number;
    maxImagesPerRequest: number;
  } {
    const models = this.scorer.describe();
    return {
      status: 'ok',
      provider: models.some((m) => m.provider === 'cuda') ? 'cuda' : 'cpu',
      keys: this.scorer.keys,
      models,
      maxBodyBytes: this.maxBodyBytes,
      maxImagesPerRequest: this.maxImages,
    };
  }

  private authorized(req: http.IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // Comparing fixed-length digests keeps the comparison constant-time whatever the token lengths.
    return match !== null && timingSafeEqual(digest(match[1] as string), this.tokenDigest as Buffer);
  }

  private async score(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = performance.now();
    let status = 200;
    let items: RewardItem[] = [];
    let results: RewardResult[] = [];
    try {
      const body = await readBody(req, this.maxBodyBytes, this.bodyTimeoutMs);
      items = parseScoreRequest(req.headers['content-type'] ?? '', body, this.maxImages);
      results = await this.scorer.score(items);
      send(res, 200, { keys: this.scorer.keys, results });
    } catch (err) {
      if (err instanceof ClientGone) {
        status = CLIENT_CLOSED;
        res.destroy();
      } else if (err instanceof RequestError) {
        status = err.status;
        refuse(req, res, err.status, err.message);
      } else {
        status = 500;
        this.log(`reward service: scoring failed: ${(err as Error).message}`);
        send(res, 500, { error: `scoring failed: ${(err as Error).message}` });
      }
    } finally {
      const errorsByKey: Record<string, number> = {};
      for (const r of results) for (const key of Object.keys(r.errors ?? {})) errorsByKey[key] = (errorsByKey[key] ?? 0) + 1;
      this.metrics.recordScore(status, (performance.now() - t0) / 1000, items.length, errorsByKey);
    }
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** An error reply. When the body was not read, the connection is closed rather than reused with unread bytes. */
function refuse(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  const unread = !req.complete;
  send(res, status, { error: message }, unread ? { ...headers, Connection: 'close' } : headers);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Parses `host:port` or `[v6]:port`. */
export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(spec.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`listen: expected host:port (e.g. 127.0.0.1:18080), got ${JSON.stringify(spec)}`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/** True for loopback addresses (the safe default bind). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Reads a bearer token file (surrounding whitespace trimmed); an empty or unreadable file is an error naming it. */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`reward.service.tokenFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token))
    throw new Error(`reward.service.tokenFile: ${file} must hold one token with no whitespace`);
  return token;
}

export interface StartOptions extends RewardScorerLoadOptions {
  /** Overrides `reward.service.listen`. */
  listen?: string;
  maxBodyBytes?: number;
  maxImagesPerRequest?: number;
  maxConnections?: number;
  bodyTimeoutMs?: number;
  /** Allow a non-loopback bind without a token (anyone who can reach it can use it). */
  insecure?: boolean;
  log?: (line: string) => void;
}

/** A started service and what to stop. */
export interface RunningRewardService {
  service: RewardService;
  url: string;
  /** Stops the server, drains the engines, releases the models. */
  close(): Promise<void>;
}

/**
 * Loads the config's reward models and serves them: binds `reward.service.listen` (or `listen`), reads the token
 * file, and with `reward.service.gpuId` asks for CUDA on that GPU (CUDA_VISIBLE_DEVICES, as the paper's gunicorn
 * hook does, unless already set). Logs the execution provider each model actually got.
 */
export async function startRewardService(loaded: LoadedConfig, options: StartOptions = {}): Promise<RunningRewardService> {
  const log = options.log ?? ((line: string) => console.error(line));
  const config = applyEnvOverrides(loaded.config);
  const svc = config.reward.service;
  const { host, port } = parseListen(options.listen ?? svc.listen);
  const token = svc.tokenFile === undefined ? undefined : readTokenFile(configPath(loaded, svc.tokenFile));
  if (!isLoopback(host) && token === undefined && options.insecure !== true) {
    throw new Error(
      `listen: refusing to bind ${host} (not loopback) without a token; set reward.service.tokenFile, bind 127.0.0.1, or pass --insecure to serve anyone who can reach it`,
    );
  }
  const tuning: RewardScorerLoadOptions = { ...options };
  if (svc.gpuId !== undefined && options.device === undefined) {
    if (process.env.CUDA_VISIBLE_DEVICES === undefined) process.env.CUDA_VISIBLE_DEVICES = String(svc.gpuId);
    tuning.device = 'cuda';
  }
  const scorer = await RewardScorer.load(loaded, tuning);
  const service = new RewardService({
    scorer,
    ...(token !== undefined ? { token } : {}),
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.maxImagesPerRequest !== undefined ? { maxImagesPerRequest: options.maxImagesPerRequest } : {}),
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    ...(options.bodyTimeoutMs !== undefined ? { bodyTimeoutMs: options.bodyTimeoutMs } : {}),
    log,
  });
  let url: string;
  try {
    ({ url } = await service.listen(host, port));
  } catch (err) {
    await scorer.close();
    throw new Error(`listen: cannot bind ${host}:${port} (${(err as Error).message})`);
  }
  const health = service.health();
  log(`reward service on ${url} (execution provider ${health.provider}${svc.gpuId !== undefined ? `, gpuId ${svc.gpuId}` : ''})`);
  for (const m of health.models) log(`  ${m.key}: ${m.model} (${m.role}) on ${m.provider}`);
  log(
    `  batching: maxBatch ${options.maxBatch ?? svc.maxBatch}, maxWaitMs ${options.maxWaitMs ?? svc.maxWaitMs}; auth ${token !== undefined ? 'bearer token' : 'none'}`,
  );
  if (!isLoopback(host) && token === undefined)
    log(`  warning: --insecure: listening on ${host} without a token; anyone who can reach it can use it`);
  return {
    service,
    url,
    async close() {
      await service.close();
      await scorer.close();
    },
  };
}

/**
 * `realgen ui`: the dashboard server. Pages are rendered here (pages.ts); the one script and stylesheet are served
 * from assets/ (nothing from outside the machine); report charts, image grids and checkpoint files are streamed from
 * the bucket through this server, since the bucket itself is private.
 *
 *   GET  /  /run?id=  /queue  /leaderboard  /reports  /report?key=       pages
 *   GET  /api/run?id=                                                   progress, reward curve (JSON, polled)
 *   POST /api/run/pause|resume|cancel?id=                               the same calls as `realgen pause|resume|cancel`
 *   GET  /files?key=runs/…|eval/…                                       an object of the bucket
 *
 * Bound to loopback by default. Bound anywhere else it refuses to start without a token, and then every request
 * needs `Authorization: Bearer <token>` or the cookie that `?token=<token>` sets (compared in constant time).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import { runWorkflowId, stageKey } from '../../contracts/ids';
import { controlRun, type RunControlAction } from '../../infra/temporal/run-control';
import { pipelineProgress } from '../../infra/temporal/run-progress-query';
import { describeLiveness } from '../../infra/temporal/segment-liveness';
import { leaderboardPage, queuePage, reportPage, reportsPage, runPage, runsPage, type DashboardSources } from './pages';

export type { DashboardSources } from './pages';

export interface DashboardOptions {
  /** @default 127.0.0.1 */
  host?: string;
  /** 0 picks a free port. @default 8765 */
  port?: number;
  /** Bearer token; required when `host` is not a loopback address. */
  token?: string;
  log?: (line: string) => void;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const ASSETS: Record<string, string> = {
  '/assets/app.js': 'text/javascript; charset=utf-8',
  '/assets/style.css': 'text/css; charset=utf-8',
};
const COOKIE = 'realgen_ui_token';
/** Bucket prefixes the dashboard serves: checkpoints and evaluations (reports, charts, grids). */
const SERVED_PREFIXES = ['runs/', 'evals/'];
const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
};

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function authorized(req: http.IncomingMessage, url: URL, token: string | undefined): boolean {
  if (token === undefined) return true;
  const want = digest(token);
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const cookie = (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim())
    .find((c) => c.startsWith(`${COOKIE}=`))
    ?.slice(COOKIE.length + 1);
  const given = [bearer, cookie && decodeURIComponent(cookie), url.searchParams.get('token') ?? undefined];
  return given.some((g) => g !== undefined && timingSafeEqual(digest(g), want));
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json', JSON.stringify(value));
}

function param(url: URL, name: string): string {
  const v = url.searchParams.get(name);
  if (v === null || v === '') throw new HttpError(400, `query parameter "${name}" is required`);
  return v;
}

/** The reward curve of the running stage: the latest checkpoint's history (built-in trainer) plus newer live steps. */
async function rewardCurve(
  src: DashboardSources,
  progress: Awaited<ReturnType<typeof pipelineProgress>>,
): Promise<Array<{ step: number; reward: number }>> {
  const stage = progress.stage;
  if (stage === null) return [];
  let history: Array<{ step: number; reward: number }> = [];
  if (stage.lastCheckpoint) {
    try {
      const stream = await src.store.client.getObject(src.store.bucket, `${stage.lastCheckpoint.prefix}state.json`);
      const chunks: Buffer[] = [];
      for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
      history = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { rewardHistory?: typeof history }).rewardHistory ?? [];
    } catch {
      history = []; // not a built-in trainer checkpoint: the live rewards alone
    }
  }
  const last = history.at(-1)?.step ?? -Infinity;
  return [...history, ...stage.recentRewards.filter((r) => r.step > last)];
}

async function apiRun(src: DashboardSources, runId: string): Promise<unknown> {
  const desc = await src.client.workflow.getHandle(runWorkflowId(runId)).describe();
  const progress = await src.client.withDeadline(Date.now() + 5000, () => pipelineProgress(src.client, runId)).catch(() => null);
  return {
    runId,
    status: desc.status.name,
    progress,
    liveness: progress?.segment ? `${stageKey(progress.stage?.stage ?? 0)}: ${describeLiveness(progress.segment)}` : null,
    curve: progress ? await rewardCurve(src, progress) : [],
  };
}

async function serveObject(src: DashboardSources, key: string, res: http.ServerResponse): Promise<void> {
  if (!SERVED_PREFIXES.some((p) => key.startsWith(p)) || key.split('/').some((part) => part === '..' || part === '.')) {
    throw new HttpError(403, `key must lie under ${SERVED_PREFIXES.join(' or ')}`);
  }
  let size: number;
  try {
    size = (await src.store.client.statObject(src.store.bucket, key)).size;
  } catch {
    throw new HttpError(404, `no object ${key}`);
  }
  const ext = path.extname(key).toLowerCase();
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
    'Content-Length': size,
  };
  // Checkpoint files download; report files and images display.
  if (key.startsWith('runs/')) headers['Content-Disposition'] = `attachment; filename="${path.basename(key).replace(/"/g, '')}"`;
  const stream = (await src.store.client.getObject(src.store.bucket, key)) as Readable;
  res.writeHead(200, headers);
  await pipeline(stream, res);
}

async function route(src: DashboardSources, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
  const html = (body: string) => send(res, 200, 'text/html; charset=utf-8', body);
  const p = url.pathname;
  if (req.method === 'POST') {
    const m = /^\/api\/run\/(pause|resume|cancel)$/.exec(p);
    if (!m) throw new HttpError(404, `no POST ${p}`);
    const result = await controlRun(src.client, param(url, 'id'), m[1] as RunControlAction, { wait: false });
    sendJson(res, 200, result);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} not allowed`);
  const asset = ASSETS[p];
  if (asset !== undefined) {
    send(res, 200, asset, readFileSync(path.join(__dirname, 'assets', path.basename(p))));
    return;
  }
  // The paths notifications link to (contracts/notifications.ts): /runs/<run> and /evals/<evalKey>.
  const runPath = /^\/runs\/([^/]+)$/.exec(p);
  if (runPath) return html(await runPage(src, decodeURIComponent(runPath[1] as string)));
  const evalPath = /^\/evals\/(.+)$/.exec(p);
  if (evalPath) {
    const key = decodeURIComponent(evalPath[1] as string);
    const body = await reportPage(src, key);
    if (body === null) throw new HttpError(404, `no report for ${key}`);
    return html(body);
  }
  switch (p) {
    case '/':
      return html(await runsPage(src));
    case '/run':
      return html(await runPage(src, param(url, 'id')));
    case '/queue':
      return html(await queuePage(src));
    case '/leaderboard':
      return html(await leaderboardPage(src));
    case '/reports':
      return html(await reportsPage(src));
    case '/report': {
      const key = param(url, 'key');
      const body = await reportPage(src, key);
      if (body === null) throw new HttpError(404, `no report for ${key}`);
      return html(body);
    }
    case '/api/run':
      return sendJson(res, 200, await apiRun(src, param(url, 'id')));
    case '/files':
      return serveObject(src, param(url, 'key'), res);
    case '/healthz':
      return sendJson(res, 200, { ok: true });
    default:
      throw new HttpError(404, `no page ${p}`);
  }
}

/** Starts the dashboard; refuses a non-loopback host without a token. */
export async function startDashboard(src: DashboardSources, options: DashboardOptions = {}): Promise<Dashboard> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token === '' ? undefined : options.token;
  if (!isLoopback(host) && token === undefined) {
    throw new Error(
      `refusing to serve the dashboard on ${host} without a token: set REALGEN_UI_TOKEN or --token-file, or bind 127.0.0.1`,
    );
  }
  const log = options.log ?? ((line: string) => console.error(line));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (!authorized(req, url, token)) {
      sendJson(res, 401, { error: 'a bearer token is required (Authorization: Bearer …, or ?token=… once)' });
      return;
    }
    const fromQuery = token !== undefined && url.searchParams.has('token');
    if (fromQuery) res.setHeader('Set-Cookie', `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`);
    route(src, req, res, url).catch((err: unknown) => {
      // An unknown run or evaluation is the client's mistake (404), not the server's.
      const status = err instanceof HttpError ? err.status : err instanceof WorkflowNotFoundError ? 404 : 500;
      if (status === 500) log(`ui: ${req.method} ${url.pathname}: ${(err as Error).message}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const message = (err as Error).message;
      if (url.pathname.startsWith('/api/') || url.pathname === '/files') sendJson(res, status, { error: message });
      else
        send(
          res,
          status,
          'text/html; charset=utf-8',
          `<!doctype html><title>error</title><p class="error">${message.replace(/[&<>"']/g, ' ')}</p>`,
        );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8765, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

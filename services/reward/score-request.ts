/**
 * Reading a score request: the body (bounded in size and time; a client that leaves mid-body is not an error of
 * ours) and its parsing into reward items (JSON with base64 images, or multipart), with the HTTP status each
 * problem deserves and a message naming the field.
 */
import type http from 'node:http';
import { z } from 'zod';
import type { RewardItem } from '../../infra/rewards/reward-scorer';
import { boundaryOf, MultipartError, parseMultipart } from './multipart';

/** Default most images in one score request (a trainer rank sends one micro-batch: tens of images). */
export const DEFAULT_MAX_IMAGES_PER_REQUEST = 1024;
/** The client closed the connection before its body was complete: nobody to answer, nothing wrong here. */
export class ClientGone extends Error {}

/** A request the client got wrong: HTTP status and a message naming the field. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DATA_URI = /^data:[^,]*;base64,/;

const PromptSchema = z.union([z.string(), z.strictObject({ text: z.string(), category: z.string().nullable().optional() })], {
  error: 'expected a string or {text, category?}',
});
const JsonRequestSchema = z.strictObject({
  images: z
    .array(z.string({ error: 'expected a base64 string' }), { error: 'expected an array of base64 strings' })
    .min(1, { error: 'expected at least one image' }),
  prompts: z.array(PromptSchema, { error: 'expected an array of prompts' }).optional(),
});

/** Turns a score request body into items; throws `RequestError` (400/415) naming the field. */
export function parseScoreRequest(contentType: string, body: Buffer, maxImages = DEFAULT_MAX_IMAGES_PER_REQUEST): RewardItem[] {
  const tooMany = (n: number | string) =>
    new RequestError(413, `images: ${n} images; the limit is ${maxImages} images per request (split the batch)`);
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  let images: Buffer[];
  let prompts: Array<{ text: string; category?: string | null }> | undefined;
  if (type === 'application/json') {
    let raw: unknown;
    try {
      raw = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new RequestError(400, `body: malformed JSON (${(err as Error).message})`);
    }
    // Counted before validating or decoding anything, so a huge list costs no more than its parse.
    const listed = (raw as { images?: unknown } | null)?.images;
    if (Array.isArray(listed) && listed.length > maxImages) throw tooMany(listed.length);
    const parsed = JsonRequestSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length
        ? issue.path
            .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
            .join('')
            .replace(/^\./, '')
        : 'body';
      const message =
        issue?.code === 'unrecognized_keys'
          ? `unknown field(s) ${issue.keys.join(', ')}; expected images and prompts`
          : (issue?.message ?? 'invalid');
      throw new RequestError(400, `${where}: ${message}`);
    }
    images = parsed.data.images.map((s, i) => {
      const b64 = s.replace(DATA_URI, '');
      if (!BASE64.test(b64))
        throw new RequestError(
          400,
          `images[${i}]: expected a base64 string (standard or URL-safe alphabet, optionally a data: URI)`,
        );
      return Buffer.from(b64, 'base64');
    });
    prompts = parsed.data.prompts?.map((p) =>
      typeof p === 'string' ? { text: p } : { text: p.text, ...(p.category != null ? { category: p.category } : {}) },
    );
  } else if (type === 'multipart/form-data') {
    let parts;
    try {
      // Parts are counted as they are split: parsing stops one past the limit.
      parts = parseMultipart(body, boundaryOf(contentType), 2 * maxImages + 1);
    } catch (err) {
      if (err instanceof MultipartError) throw new RequestError(400, err.message);
      throw err;
    }
    images = [];
    const texts: string[] = [];
    for (const part of parts) {
      if (part.name === 'image') {
        images.push(part.data);
        if (images.length > maxImages) throw tooMany(`more than ${maxImages}`);
      } else if (part.name === 'prompt') texts.push(part.data.toString('utf8'));
      else throw new RequestError(400, `multipart: unexpected part "${part.name}"; expected parts named image and prompt`);
    }
    if (images.length === 0) throw new RequestError(400, 'images: expected at least one part named image');
    prompts = texts.length > 0 ? texts.map((text) => ({ text })) : undefined;
  } else {
    throw new RequestError(
      415,
      `Content-Type: expected application/json or multipart/form-data, got ${JSON.stringify(contentType || '(none)')}`,
    );
  }
  if (prompts !== undefined && prompts.length !== images.length) {
    throw new RequestError(400, `prompts: expected one prompt per image (${images.length}), got ${prompts.length}`);
  }
  return images.map((image, i) => ({ image, ...(prompts ? { prompt: prompts[i] as { text: string } } : {}) }));
}

/**
 * Reads the whole body, refusing (413) before reading on a declared length over `limit`, or as soon as it passes
 * it; 408 when it has not all arrived within `timeoutMs` (a slowloris client); `ClientGone` when the client closes
 * the connection first.
 */
export function readBody(req: http.IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new RequestError(413, `body is ${declared} bytes; the limit is ${limit}`));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('close', onClose);
      if (err === null) resolve(Buffer.concat(chunks, size));
      else {
        req.pause();
        reject(err);
      }
    };
    const timer = setTimeout(() => finish(new RequestError(408, `body not received within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return finish(new RequestError(413, `body passed the limit of ${limit} bytes`));
      chunks.push(chunk);
    };
    const onClose = () => finish(req.complete ? null : new ClientGone('client closed the connection mid-body'));
    req.on('data', onData);
    req.once('end', () => finish(null));
    req.once('close', onClose);
    req.once('error', () => finish(new ClientGone('client connection failed mid-body')));
  });
}

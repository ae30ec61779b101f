/**
 * One ranged GET of an object read straight into a caller's buffer over a plain TCP socket.
 *
 * Why not the S3 client's own GET: Node's HTTP client hands every 64 KiB read to JavaScript as a fresh Buffer through
 * a stream; on this 2-core machine that cost ~1.8 CPU-seconds per GiB received, and downloads ran at a fifth of
 * MinIO's own `mc` (bench:checkpoint). A socket in `onread` mode reads into a buffer the caller chooses for every read
 * (~0.25 CPU-s per GiB, probes in docs/performance.md): the response head goes into a small scratch buffer, and once
 * it is parsed the body is read straight into the rest of the part's slot, so no byte of the body is copied in
 * JavaScript.
 *
 * The request is authorised by a presigned URL the S3 client computes locally (SigV4 query signing; the Range header
 * is not part of the signature). The URL carries a signature: it is never put into an error message.
 * Plain `http:` endpoints only; the caller uses the S3 client for `https:`.
 */
import net from 'node:net';
import { s3ErrorFields } from './s3-error-body';

/** Scratch read buffer for the response head and error bodies (the body of a good response skips it). */
const SCRATCH_BYTES = 64 * 1024;
/** A socket that delivers nothing for this long fails the read. */
const IDLE_TIMEOUT_MS = 60_000;
/** Error bodies (S3 XML) beyond this are not kept. */
const MAX_ERROR_BODY = 64 * 1024;

/** An S3 error answered to a ranged GET; `code` is the S3 error code (e.g. `NoSuchKey`) when the body names one. */
export class RangeReadError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly statusCode: number,
  ) {
    super(message);
    this.name = 'RangeReadError';
  }
}

/**
 * GETs bytes [offset, offset + into.length) of the object at `presignedUrl` into `into`. Exactly that many bytes
 * must come back with status 206 (or 200 for a whole-object range): fewer, more, or another status is an error.
 * `what` names the object in error messages.
 */
export async function readRangeInto(presignedUrl: string, offset: number, into: Buffer, what: string): Promise<void> {
  const url = new URL(presignedUrl);
  if (url.protocol !== 'http:') throw new Error(`readRangeInto: only http: endpoints are read over a raw socket (${what})`);
  const length = into.length;
  if (length === 0) return;
  const range = `bytes ${offset}-${offset + length - 1}`;
  const request =
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nRange: bytes=${offset}-${offset + length - 1}\r\n` +
    'Accept-Encoding: identity\r\nConnection: close\r\n\r\n';
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

  await new Promise<void>((resolve, reject) => {
    let head: Buffer | null = Buffer.alloc(0); // null once the headers are parsed
    let status = 0;
    let bodyLength = -1;
    let got = 0;
    const errorBody: Buffer[] = [];
    let errorBytes = 0;
    let settled = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err === null) resolve();
      else reject(err);
    };
    const failStatus = () => {
      const xml = Buffer.concat(errorBody).toString('utf8');
      const fields = s3ErrorFields(xml);
      const code = fields.code ?? `HTTP${status}`;
      const message = fields.message;
      finish(new RangeReadError(`GET ${what} (${range}): ${status} ${code} ${message}`.trim(), code, status));
    };
    const onBody = (chunk: Buffer) => {
      if (status !== 206 && status !== 200) {
        if (errorBytes < MAX_ERROR_BODY) errorBody.push(Buffer.from(chunk));
        errorBytes += chunk.length;
        if (bodyLength >= 0 && errorBytes >= bodyLength) failStatus();
        return;
      }
      if (got + chunk.length > length) {
        finish(new Error(`GET ${what} (${range}): more than the ${length} bytes asked for`));
        return;
      }
      chunk.copy(into, got);
      got += chunk.length;
      if (got === length) finish(null);
    };
    const onHeaders = (text: string) => {
      const lines = text.split('\r\n');
      status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      if (!Number.isInteger(status)) return finish(new Error(`GET ${what} (${range}): not an HTTP response`));
      if (headers.get('transfer-encoding') !== undefined && status >= 200 && status < 300) {
        return finish(new Error(`GET ${what} (${range}): unexpected transfer-encoding ${headers.get('transfer-encoding')}`));
      }
      bodyLength = Number(headers.get('content-length') ?? -1);
      if ((status === 206 || status === 200) && bodyLength !== length) {
        return finish(new Error(`GET ${what} (${range}): the server sends ${bodyLength} bytes, ${length} were asked for`));
      }
      if (status !== 206 && status !== 200 && bodyLength === 0) failStatus();
    };

    // Once the head says 206/200 with the asked length (Content-Length was checked against it), each read goes
    // straight to the unfilled rest of `into`, so it can not overrun it; the socket is closed as soon as it is full.
    const direct = () => head === null && (status === 206 || status === 200) && got < length;
    let reading: Buffer = scratch; // the buffer of the read in progress
    const socket = net.connect({
      host: url.hostname,
      port: Number(url.port === '' ? 80 : url.port),
      onread: {
        // Called for every read: Node asks for the next read's buffer after each callback.
        buffer: () => (reading = direct() ? into.subarray(got) : scratch),
        callback: (n: number, buf: Uint8Array) => {
          if (settled) return false;
          if (reading !== scratch) {
            got += n;
            if (got === length) finish(null);
            return true;
          }
          let chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
          if (head !== null) {
            head = Buffer.concat([head, chunk]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) {
              if (head.length > 64 * 1024) finish(new Error(`GET ${what} (${range}): response headers too long`));
              return true;
            }
            const rest = head.subarray(end + 4);
            const text = head.subarray(0, end).toString('latin1');
            head = null;
            onHeaders(text);
            chunk = rest;
          }
          if (!settled && chunk.length > 0) onBody(chunk);
          return true;
        },
      },
    });
    socket.setNoDelay(true);
    socket.setTimeout(IDLE_TIMEOUT_MS, () =>
      finish(new Error(`GET ${what} (${range}): no data for ${IDLE_TIMEOUT_MS / 1000} s`)),
    );
    socket.on('connect', () => socket.write(request));
    socket.on('error', (err) => finish(err));
    socket.on('end', () => {
      if (head !== null) finish(new Error(`GET ${what} (${range}): connection closed before the response headers`));
      else if (status !== 206 && status !== 200) failStatus();
      else finish(new Error(`GET ${what} (${range}): returned ${got} of ${length} bytes`));
    });
    socket.on('close', () => finish(new Error(`GET ${what} (${range}): connection closed after ${got} of ${length} bytes`)));
  });
}

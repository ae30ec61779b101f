/**
 * A small `multipart/form-data` parser (RFC 7578) for bodies already in memory and already bounded by the
 * service's body limit. Enough for the reward protocol: named parts, an optional filename, raw bytes.
 */

/** One part of a form: its field name, the filename when it is a file, and its raw bytes. */
export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** A malformed multipart body; the message says what was expected. */
export class MultipartError extends Error {
  constructor(message: string) {
    super(`multipart: ${message}`);
    this.name = 'MultipartError';
  }
}

/** The boundary parameter of a `multipart/form-data` content type; throws `MultipartError` when absent. */
export function boundaryOf(contentType: string): string {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new MultipartError('Content-Type has no boundary parameter');
  if (boundary.length > 70) throw new MultipartError(`boundary is ${boundary.length} characters; the limit is 70`);
  return boundary;
}

/** Splits a body into its parts, in order; stops (returning what it has) once it holds `maxParts` parts. */
export function parseMultipart(body: Buffer, boundary: string, maxParts = Infinity): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const nextDelimiter = Buffer.from(`\r\n--${boundary}`);
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new MultipartError('body does not contain the boundary');
  pos += delimiter.length;
  const parts: FormPart[] = [];
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // "--": the closing delimiter
    // Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a)
      throw new MultipartError(`expected CRLF after the boundary of part ${parts.length + 1}`);
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new MultipartError(`part ${parts.length + 1} has no end of headers`);
    const headers = parseHeaders(body.toString('latin1', pos, headerEnd), parts.length + 1);
    const dataStart = headerEnd + 4;
    const dataEnd = body.indexOf(nextDelimiter, dataStart);
    if (dataEnd < 0) throw new MultipartError(`part ${parts.length + 1} ("${headers.name}") is not closed by the boundary`);
    parts.push({ ...headers, data: body.subarray(dataStart, dataEnd) });
    if (parts.length >= maxParts) return parts;
    pos = dataEnd + nextDelimiter.length;
  }
}

function parseHeaders(text: string, index: number): Omit<FormPart, 'data'> {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'content-disposition') disposition = value;
    else if (key === 'content-type') contentType = value;
  }
  if (!disposition || !/^form-data\b/i.test(disposition))
    throw new MultipartError(`part ${index} has no Content-Disposition: form-data header`);
  const param = (p: string) => {
    const m = new RegExp(`;\\s*${p}="((?:[^"\\\\]|\\\\.)*)"|;\\s*${p}=([^;\\s]+)`, 'i').exec(disposition);
    const raw = m?.[1] ?? m?.[2];
    // Browsers and requests send UTF-8 names in the quoted string; the header was read as latin1.
    return raw === undefined ? undefined : Buffer.from(raw.replace(/\\(.)/g, '$1'), 'latin1').toString('utf8');
  };
  const name = param('name');
  if (name === undefined) throw new MultipartError(`part ${index} has no name`);
  const filename = param('filename');
  return { name, ...(filename !== undefined ? { filename } : {}), ...(contentType !== undefined ? { contentType } : {}) };
}

/**
 * The safetensors file format, written and read without a dependency: an 8-byte little-endian header length, a JSON
 * header (`{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, padded with spaces to
 * 8 bytes so tensors stay aligned), then the tensors' raw little-endian bytes back to back.
 * Spec: https://github.com/huggingface/safetensors#format
 */

/** The element types written here, with their sizes in bytes. */
export const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;
export type Dtype = keyof typeof DTYPE_BYTES;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  /** Little-endian bytes, `product(shape) × size(dtype)` long. */
  data: Uint8Array;
}

/** A float64 array as an F64 tensor (little-endian on every host). */
export function f64Tensor(values: ArrayLike<number>, shape: number[] = [values.length]): Tensor {
  const data = new Uint8Array(values.length * 8);
  const view = new DataView(data.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i] ?? 0, true);
  return { dtype: 'F64', shape, data };
}

/** Reads an F64 tensor back as numbers. */
export function f64Values(t: Tensor): Float64Array {
  if (t.dtype !== 'F64') throw new Error(`expected an F64 tensor, got ${t.dtype}`);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return Float64Array.from({ length: t.data.byteLength / 8 }, (_, i) => view.getFloat64(i * 8, true));
}

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Encodes tensors (in name order, so the same tensors give the same bytes) and string metadata. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const names = Object.keys(tensors).sort();
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error('a tensor may not be named __metadata__');
    const t = tensors[name] as Tensor;
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`tensor ${name}: bad shape ${JSON.stringify(t.shape)}`);
    const size = elements(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== size)
      throw new Error(`tensor ${name}: ${t.data.byteLength} bytes, shape ${JSON.stringify(t.shape)} ${t.dtype} needs ${size}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const name of names) {
    const t = tensors[name] as Tensor;
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

/** Decodes a safetensors file; every offset and size is checked, and the error says which. */
export function decodeSafetensors(bytes: Uint8Array): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw new Error(`safetensors: ${buf.length} bytes, too short for the header length`);
  const headerLength = Number(buf.readBigUInt64LE(0));
  if (headerLength > buf.length - 8)
    throw new Error(`safetensors: header length ${headerLength} runs past the end (${buf.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`safetensors: header is not JSON (${(err as Error).message})`);
  }
  const body = buf.subarray(8 + headerLength);
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (e.dtype === undefined || !(e.dtype in DTYPE_BYTES))
      throw new Error(`safetensors: tensor ${name} has dtype ${String(e.dtype)}`);
    const dtype = e.dtype as Dtype;
    const [begin, end] = e.data_offsets ?? [Number.NaN, Number.NaN];
    if (!Array.isArray(e.shape) || !(begin >= 0 && end >= begin && end <= body.length)) {
      throw new Error(`safetensors: tensor ${name} has bad shape or offsets ${JSON.stringify([e.shape, e.data_offsets])}`);
    }
    if (end - begin !== elements(e.shape) * DTYPE_BYTES[dtype])
      throw new Error(`safetensors: tensor ${name}: ${end - begin} bytes do not fit shape ${JSON.stringify(e.shape)}`);
    tensors[name] = { dtype, shape: e.shape, data: new Uint8Array(body.subarray(begin, end)) };
  }
  return { tensors, metadata };
}

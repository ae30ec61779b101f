/**
 * A minimal ONNX model writer: the protobuf wire format for the subset of `onnx.proto` we author from
 * TypeScript (Model, Graph, Node, Attribute, Tensor, ValueInfo). Field numbers follow onnx.proto (ONNX 1.x);
 * output bytes are deterministic for the same graph, so authored detectors are reproducible byte for byte.
 */

/** ONNX tensor element types used here (TensorProto.DataType). */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** A constant tensor (initializer or tensor attribute). */
export interface TensorSpec {
  name?: string;
  dims: number[];
  dataType: DataTypeCode;
  data: Float32Array | BigInt64Array | Int32Array;
}

/** Attribute values by kind. */
export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'tensor'; value: TensorSpec };

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, AttributeValue>;
}

/** A graph input/output: name, element type and shape (numbers, or strings for symbolic dims). */
export interface ValueInfoSpec {
  name: string;
  dataType: DataTypeCode;
  shape: Array<number | string>;
}

export interface ModelSpec {
  graphName: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueInfoSpec[];
  outputs: ValueInfoSpec[];
  opset: number;
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/**
 * Growable protobuf writer over a byte buffer (doubling), so graphs with hundreds of megabytes of weights (the
 * ViT-sized benchmark detector) encode in seconds and without a JS number per byte.
 */
class Pb {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private push(byte: number): void {
    this.reserve(1);
    this.buf[this.len++] = byte;
  }

  private pushBytes(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private varint(value: bigint): void {
    // Negative int64 values are encoded as 10-byte two's complement varints.
    let v = value < 0n ? (1n << 64n) + value : value;
    while (v >= 0x80n) {
      this.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.push(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, 0);
    this.varint(BigInt(value));
  }

  float(field: number, value: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.pushBytes(b);
  }

  raw(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(BigInt(data.length));
    this.pushBytes(data);
  }

  string(field: number, value: string): void {
    this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (pb: Pb) => void): void {
    const inner = new Pb();
    build(inner);
    this.raw(field, inner.bytes());
  }

  packedInts(field: number, values: Array<number | bigint>): void {
    const inner = new Pb();
    for (const v of values) inner.varint(BigInt(v));
    this.raw(field, inner.bytes());
  }

  packedFloats(field: number, values: number[]): void {
    const b = new Uint8Array(values.length * 4);
    const view = new DataView(b.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    this.raw(field, b);
  }
}

function writeTensor(pb: Pb, t: TensorSpec): void {
  pb.packedInts(1, t.dims);
  pb.int(2, t.dataType);
  if (t.name !== undefined) pb.string(8, t.name);
  // raw_data is little-endian bytes of the elements.
  const data = t.data;
  pb.raw(9, new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
}

function writeValueInfo(pb: Pb, v: ValueInfoSpec): void {
  pb.string(1, v.name);
  pb.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.dataType);
      tensor.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

function writeAttribute(pb: Pb, name: string, a: AttributeValue): void {
  pb.string(1, name);
  switch (a.kind) {
    case 'float':
      pb.float(2, a.value);
      pb.int(20, 1);
      break;
    case 'int':
      pb.int(3, a.value);
      pb.int(20, 2);
      break;
    case 'string':
      pb.string(4, a.value);
      pb.int(20, 3);
      break;
    case 'tensor':
      pb.message(5, (t) => writeTensor(t, a.value));
      pb.int(20, 4);
      break;
    case 'floats':
      pb.packedFloats(7, a.value);
      pb.int(20, 6);
      break;
    case 'ints':
      pb.packedInts(8, a.value);
      pb.int(20, 7);
      break;
  }
}

/** Serialises a model to ONNX protobuf bytes (loadable by `InferenceSession.create(bytes)`). */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const pb = new Pb();
  pb.int(1, spec.irVersion ?? 8);
  pb.string(2, spec.producerName ?? 'realgen');
  pb.string(3, spec.producerVersion ?? '0.1.0');
  if (spec.docString !== undefined) pb.string(6, spec.docString);
  pb.message(7, (g) => {
    spec.nodes.forEach((n, i) =>
      g.message(1, (node) => {
        for (const input of n.inputs) node.string(1, input);
        for (const output of n.outputs) node.string(2, output);
        node.string(3, n.name ?? `${n.opType}_${i}`);
        node.string(4, n.opType);
        for (const [name, value] of Object.entries(n.attributes ?? {})) node.message(5, (a) => writeAttribute(a, name, value));
      }),
    );
    g.string(2, spec.graphName);
    for (const t of spec.initializers) g.message(5, (tensor) => writeTensor(tensor, t));
    for (const v of spec.inputs) g.message(11, (vi) => writeValueInfo(vi, v));
    for (const v of spec.outputs) g.message(12, (vi) => writeValueInfo(vi, v));
  });
  pb.message(8, (op) => {
    op.string(1, '');
    op.int(2, spec.opset);
  });
  for (const [key, value] of Object.entries(spec.metadata ?? {})) {
    pb.message(14, (kv) => {
      kv.string(1, key);
      kv.string(2, value);
    });
  }
  return pb.bytes();
}

/** A float32 initializer. */
export function floatTensor(name: string, dims: number[], data: ArrayLike<number>): TensorSpec {
  return { name, dims, dataType: DataType.FLOAT, data: Float32Array.from(data) };
}

/** An int64 initializer. */
export function int64Tensor(name: string, dims: number[], data: ArrayLike<number>): TensorSpec {
  return { name, dims, dataType: DataType.INT64, data: BigInt64Array.from(Array.from(data, (v) => BigInt(v))) };
}

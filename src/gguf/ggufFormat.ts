/**
 * The pieces of the GGUF v3 container format that the synthetic-model writer and the reader
 * need: value types, the ggml tensor types written here, and byte sizes. Spec:
 * ggml/docs/gguf.md in llama.cpp.
 */

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
/** Default `general.alignment`: tensor data offsets are multiples of this. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/** ggml tensor types this project writes (numbering from ggml.h `enum ggml_type`). */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q8_0: 8,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

/** `general.file_type` values (llama.h `enum llama_ftype`). */
export const LlamaFileType = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q8_0: 7,
} as const;

/** Q8_0 block: one f16 scale and 32 int8 values. */
export const Q8_0_BLOCK_VALUES = 32;
export const Q8_0_BLOCK_BYTES = 34;

/** Bytes of a tensor of `elements` values stored in `type` (rows must be whole Q8_0 blocks). */
export function tensorBytes(type: GgmlType, elements: number): number {
  switch (type) {
    case GgmlType.F32:
      return elements * 4;
    case GgmlType.F16:
      return elements * 2;
    case GgmlType.Q8_0:
      if (elements % Q8_0_BLOCK_VALUES !== 0) throw new Error(`Q8_0 needs a multiple of ${Q8_0_BLOCK_VALUES} values, got ${elements}`);
      return (elements / Q8_0_BLOCK_VALUES) * Q8_0_BLOCK_BYTES;
  }
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** A metadata value with its GGUF type made explicit (JS numbers do not say u32 vs f32). */
export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "u64"; value: bigint }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: readonly string[] }
  | { type: "f32[]"; value: ArrayLike<number> }
  | { type: "i32[]"; value: ArrayLike<number> };

export const u32 = (value: number): GgufValue => ({ type: "u32", value });
export const f32 = (value: number): GgufValue => ({ type: "f32", value });
export const bool = (value: boolean): GgufValue => ({ type: "bool", value });
export const str = (value: string): GgufValue => ({ type: "string", value });

/** Appends little-endian GGUF values to a growing buffer (used for the header only). */
export class GgufHeaderWriter {
  private buf = Buffer.alloc(1 << 16);
  private pos = 0;

  get length(): number {
    return this.pos;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.pos);
    this.pos += 4;
  }
  u64(v: bigint | number): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.pos);
    this.pos += 8;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
  }
  string(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
  }
  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  keyValue(key: string, v: GgufValue): void {
    this.string(key);
    switch (v.type) {
      case "u32":
        this.u32(GgufValueType.UINT32);
        this.u32(v.value);
        return;
      case "i32":
        this.u32(GgufValueType.INT32);
        this.i32(v.value);
        return;
      case "u64":
        this.u32(GgufValueType.UINT64);
        this.u64(v.value);
        return;
      case "f32":
        this.u32(GgufValueType.FLOAT32);
        this.f32(v.value);
        return;
      case "bool":
        this.u32(GgufValueType.BOOL);
        this.u8(v.value ? 1 : 0);
        return;
      case "string":
        this.u32(GgufValueType.STRING);
        this.string(v.value);
        return;
      case "string[]":
        this.u32(GgufValueType.ARRAY);
        this.u32(GgufValueType.STRING);
        this.u64(v.value.length);
        for (const s of v.value) this.string(s);
        return;
      case "f32[]":
        this.u32(GgufValueType.ARRAY);
        this.u32(GgufValueType.FLOAT32);
        this.u64(v.value.length);
        for (let i = 0; i < v.value.length; i++) this.f32(v.value[i] ?? 0);
        return;
      case "i32[]":
        this.u32(GgufValueType.ARRAY);
        this.u32(GgufValueType.INT32);
        this.u64(v.value.length);
        for (let i = 0; i < v.value.length; i++) this.i32(v.value[i] ?? 0);
        return;
    }
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

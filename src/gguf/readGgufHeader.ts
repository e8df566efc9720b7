/**
 * A small GGUF header reader: metadata and tensor infos, no tensor data. Used to copy a tokenizer
 * out of another GGUF and to check what the synthetic writer produced. (node-llama-cpp's
 * `readGgufFileInfo` does the same job for its own needs; this one keeps exact value types.)
 */

import fs from "node:fs";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufValueType } from "./ggufFormat.ts";

export type GgufScalar = number | bigint | boolean | string;
export type GgufMetadataValue = GgufScalar | GgufScalar[];

export interface GgufTensorInfo {
  name: string;
  /** ne0 first (the innermost, contiguous dimension). */
  dims: number[];
  /** ggml type number. */
  type: number;
  /** Offset from the start of the data section. */
  offset: number;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufMetadataValue>;
  /** The GGUF value type of each metadata key (for arrays: the element type). */
  metadataTypes: Map<string, { type: number; arrayOf?: number }>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute file offset where tensor data starts. */
  dataOffset: number;
}

class NeedMoreBytes extends Error {}

class Cursor {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new NeedMoreBytes();
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  num64(): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`GGUF value ${v} is too large`);
    return Number(v);
  }
  string(): string {
    const len = this.num64();
    this.need(len);
    const s = this.buf.toString("utf8", this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  scalar(type: number): GgufScalar {
    switch (type) {
      case GgufValueType.UINT8:
        return this.u8();
      case GgufValueType.INT8:
        this.need(1);
        return this.buf.readInt8(this.pos++);
      case GgufValueType.UINT16:
        this.need(2);
        this.pos += 2;
        return this.buf.readUInt16LE(this.pos - 2);
      case GgufValueType.INT16:
        this.need(2);
        this.pos += 2;
        return this.buf.readInt16LE(this.pos - 2);
      case GgufValueType.UINT32:
        return this.u32();
      case GgufValueType.INT32:
        this.need(4);
        this.pos += 4;
        return this.buf.readInt32LE(this.pos - 4);
      case GgufValueType.FLOAT32:
        this.need(4);
        this.pos += 4;
        return this.buf.readFloatLE(this.pos - 4);
      case GgufValueType.BOOL:
        return this.u8() !== 0;
      case GgufValueType.STRING:
        return this.string();
      case GgufValueType.UINT64:
        return this.u64();
      case GgufValueType.INT64:
        this.need(8);
        this.pos += 8;
        return this.buf.readBigInt64LE(this.pos - 8);
      case GgufValueType.FLOAT64:
        this.need(8);
        this.pos += 8;
        return this.buf.readDoubleLE(this.pos - 8);
      default:
        throw new Error(`unknown GGUF value type ${type}`);
    }
  }
}

function parse(buf: Buffer): GgufHeader {
  const c = new Cursor(buf);
  if (buf.length < 4 || buf.toString("latin1", 0, 4) !== GGUF_MAGIC) throw new Error("not a GGUF file (bad magic)");
  c.pos = 4;
  const version = c.u32();
  if (version !== 2 && version !== 3) throw new Error(`unsupported GGUF version ${version}`);
  const nTensors = c.num64();
  const nKv = c.num64();
  const metadata = new Map<string, GgufMetadataValue>();
  const metadataTypes = new Map<string, { type: number; arrayOf?: number }>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string();
    const type = c.u32();
    if (type === GgufValueType.ARRAY) {
      const elemType = c.u32();
      const n = c.num64();
      const values: GgufScalar[] = new Array(n);
      for (let j = 0; j < n; j++) values[j] = c.scalar(elemType);
      metadata.set(key, values);
      metadataTypes.set(key, { type, arrayOf: elemType });
    } else {
      metadata.set(key, c.scalar(type));
      metadataTypes.set(key, { type });
    }
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.string();
    const nDims = c.u32();
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.num64());
    const type = c.u32();
    const offset = c.num64();
    tensors.push({ name, dims, type, offset });
  }
  const alignmentValue = metadata.get("general.alignment");
  const alignment = typeof alignmentValue === "number" ? alignmentValue : GGUF_DEFAULT_ALIGNMENT;
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  return { version, metadata, metadataTypes, tensors, alignment, dataOffset };
}

/** Reads the header of a GGUF file, reading more of the file until the header fits. */
export function readGgufHeader(filePath: string): GgufHeader {
  const fd = fs.openSync(filePath, "r");
  try {
    const size = fs.fstatSync(fd).size;
    let want = Math.min(size, 1 << 20);
    for (;;) {
      const buf = Buffer.alloc(want);
      fs.readSync(fd, buf, 0, want, 0);
      try {
        return parse(buf);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
        if (want >= size) throw new Error(`${filePath}: GGUF header runs past the end of the file`);
        want = Math.min(size, want * 4);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

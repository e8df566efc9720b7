import { deflateSync, inflateSync } from "node:zlib";
import { JsonPlusSerializer, type SerializerProtocol } from "@langchain/langgraph-checkpoint";

const PREFIX = "z:";
/** Payloads under this size are stored as they are (checkpoint metadata stays plain JSON, so SQL filters on it work). */
const MIN_BYTES = 1024;

/**
 * Wraps LangGraph's serializer so large checkpoint and write payloads are stored deflated. Every
 * payload gets the type `z:<type>` (SqliteSaver requires a checkpoint and its metadata to share one
 * type), and only payloads of 1 KiB or more are deflated: a payload is inflated on load when it
 * starts with a zlib header, which JSON never does. Metadata, always small, stays plain JSON, so
 * SqliteSaver's SQL filters on it keep working.
 */
export class CompressingSerializer implements SerializerProtocol {
  constructor(private readonly inner: SerializerProtocol = new JsonPlusSerializer()) {}

  async dumpsTyped(data: unknown): Promise<[string, Uint8Array]> {
    const [type, bytes] = await this.inner.dumpsTyped(data);
    return [`${PREFIX}${type}`, bytes.length < MIN_BYTES ? bytes : deflateSync(bytes, { level: 6 })];
  }

  async loadsTyped(type: string, data: Uint8Array | string): Promise<unknown> {
    if (!type.startsWith(PREFIX)) return this.inner.loadsTyped(type, data);
    const inner = type.slice(PREFIX.length);
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    // zlib stream header: CMF 0x78 (deflate, 32K window) — JSON text never starts with it.
    if (bytes.length > 1 && bytes[0] === 0x78) return this.inner.loadsTyped(inner, inflateSync(bytes));
    return this.inner.loadsTyped(inner, data);
  }
}

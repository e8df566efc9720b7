import { deflateSync, inflateSync } from "node:zlib";

/** Stored values: JSON, deflated when that saves space (texts of documents, drafts and model outputs). */
export function pack(value: unknown): Buffer | string {
  const json = JSON.stringify(value);
  if (json.length < 512) return json;
  return deflateSync(Buffer.from(json), { level: 6 });
}

export function unpack(stored: Buffer | string): unknown {
  return JSON.parse(typeof stored === "string" ? stored : inflateSync(stored).toString("utf8"));
}

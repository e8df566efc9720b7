import { createHash } from "node:crypto";
import fs from "node:fs";

/**
 * The hash the knowledge base and the site record for each file they write (sha256, 32 hex digits),
 * so a later run can tell its own unchanged file from one a person edited.
 */
export function contentHash(content: string | Buffer): string {
  return createHash("sha256").update(content).digest("hex").slice(0, 32);
}

/** The hash of a file's bytes, or undefined when it cannot be read (missing, a folder). */
export function fileHash(file: string): string | undefined {
  try {
    return contentHash(fs.readFileSync(file));
  } catch {
    return undefined;
  }
}

import path from "node:path";
import { publicDocsUrl } from "../research/rustDocs.ts";
import type { ResearchRef } from "./types.ts";

/**
 * A research reference as a knowledge base publishes it: never a machine's absolute path. Stores
 * written before local documentation was cited by its public URL hold `file://` citations: Rust
 * documentation becomes its doc.rust-lang.org URL, any other local file its name, without a link.
 */
export function publicResearchRef(ref: ResearchRef): ResearchRef {
  const isLocal = (s: string | undefined) => s?.startsWith("file:") === true;
  if (!isLocal(ref.citation) && !isLocal(ref.url)) return ref;
  const { url: _dropped, ...rest } = ref;
  const url = ref.url ? publicDocsUrl(ref.url) : undefined;
  const citation = isLocal(ref.citation) ? (publicDocsUrl(ref.citation) ?? localName(ref.citation)) : ref.citation;
  return { ...rest, citation, ...(url && !isLocal(url) ? { url } : {}) };
}

function localName(fileUrl: string): string {
  const hash = fileUrl.indexOf("#");
  const file = hash >= 0 ? fileUrl.slice(0, hash) : fileUrl;
  let name: string;
  try {
    name = path.posix.basename(decodeURIComponent(new URL(file).pathname));
  } catch {
    name = "local file";
  }
  return `${name}${hash >= 0 ? fileUrl.slice(hash) : ""}`;
}

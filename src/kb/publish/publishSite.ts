import type { KnowledgeBase } from "../KnowledgeBase.ts";
import { type SiteResult, writeSite } from "./site/writeSite.ts";

/**
 * Writes the static HTML site of the knowledge base's current entries into `siteDir`
 * (src/kb/publish/site/writeSite.ts). Sources link to `inputDir`, by default the input of the run
 * that last published the knowledge base.
 */
export function publishSite(kb: KnowledgeBase, siteDir: string, inputDir: string | undefined = kb.lastRun()?.inputDir): SiteResult {
  return writeSite({ entries: kb.entries(), quarantined: kb.quarantined(), unread: kb.unread(), inputDir }, siteDir);
}

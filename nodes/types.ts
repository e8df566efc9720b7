import type { CategoryId } from "../src/kb/taxonomy.ts";
import type { CodeVerification } from "../src/kb/types.ts";

/** A file the parent graph sends through the per-file subgraph. */
export interface FileTask {
  relPath: string;
  docId: string;
}

/** One pattern the extractor found, pointing at its evidence by unit ID. */
export interface PatternItem {
  /** `p1`, `p2`, … within the file (stable across resume). */
  key: string;
  name: string;
  slug: string;
  category: CategoryId;
  summary: string;
  /** Unit IDs (sections, records, code blocks) of the source that show the pattern. */
  evidence: string[];
}

/** A research result the writer may cite by ID. */
export interface ResearchSource {
  /** `L1…` input-set excerpts, `D1…` local documentation, `W1…` web results. */
  id: string;
  provider: string;
  title: string;
  /** Human-readable location: `path:12-20`, a local doc page with anchor, or a URL. */
  citation: string;
  relPath?: string;
  startLine?: number;
  endLine?: number;
  url?: string;
  excerpt: string;
}

export interface ResearchPack {
  sources: ResearchSource[];
  /** IDs the researcher judged relevant (all sources when the model was not asked). */
  relevant: string[];
  note: string;
}

export interface DraftRef {
  /** Blob hash of the Draft (nodes/schemas.ts) in the run database (kept out of graph state); null when the writer produced nothing valid. */
  ref: string | null;
  round: number;
  /** Why the writer's output was unusable (when ref is null). */
  problems?: string[];
}

export interface Verdict {
  ok: boolean;
  problems: string[];
  round: number;
  /** The Rust code check's verdict on the draft's example (recorded on the published example). */
  verification?: CodeVerification;
}

export interface QuarantinedDraft {
  key: string;
  name: string;
  problems: string[];
}

/** What one file contributed, gathered by the parent graph. */
export interface FileOutcome {
  relPath: string;
  docId: string;
  status: "processed" | "quarantined" | "skipped";
  /** Slugs of the knowledge-base entries this file's validated drafts went into. */
  published: string[];
  quarantined: QuarantinedDraft[];
  patterns: number;
  reason?: string;
}

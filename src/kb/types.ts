import type { CrossRefs } from "./crossrefs.ts";
import type { CategoryId } from "./taxonomy.ts";

export type { CrossRefs };

/** A code example copied verbatim from a source unit. */
export interface ExampleRef {
  unitId: string;
  relPath: string;
  startLine: number;
  endLine: number;
  lang: string;
  code: string;
  /** What the Rust code check said about this code (absent when it was not checked). */
  verification?: CodeVerification;
}

/**
 * The Rust code check's verdict on an example (src/validate/rustCheck.ts): compiles (rustc
 * accepted it, as is or wrapped in a function), parses-only (parses; a fragment using names it does
 * not define, or marked ignore/compile_fail), fails (a syntax error, or rustc's first error), or
 * not-checkable (not Rust, needs an external crate or nightly, rustc absent or too slow).
 */
export interface CodeVerification {
  status: "compiles" | "parses-only" | "fails" | "not-checkable";
  /** tree-sitter's Rust grammar parsed it (as is or wrapped in a function). */
  parses: boolean;
  /** One line: how it compiled, the first error, or why it could not be checked. */
  detail: string;
  /** "rustc 1.95.0 (…)" when rustc ran, "tree-sitter" otherwise. */
  checker: string;
  /** Compiled inside a generated function. */
  wrapped: boolean;
}

export interface EvidenceRef {
  unitId: string;
  title: string;
  startLine: number;
  endLine: number;
}

export interface ResearchRef {
  id: string;
  provider: string;
  title: string;
  citation: string;
  url?: string;
}

/** How a published draft was validated (the verdict that let it through). */
export interface Validation {
  /** Whether the validator model reviewed the draft after the deterministic checks passed. */
  review: "passed" | "off";
  /** Writer round whose draft passed (1 = first draft). */
  round: number;
}

/** One validated draft from one file, as merged into a knowledge-base entry. */
export interface Contribution {
  /** Slug of the draft's own name (`slugify(name)`); the entry it joins may have another. */
  slug: string;
  name: string;
  category: CategoryId;
  relPath: string;
  docId: string;
  patternKey: string;
  summary: string;
  whenToUse: string[];
  whenNotToUse: string[];
  pitfalls: string[];
  example: ExampleRef | null;
  evidence: EvidenceRef[];
  research: ResearchRef[];
  /** Clippy lints and API Guidelines IDs named by the source units the draft cites. */
  crossRefs: CrossRefs;
  /** Absent in stores written before validation was recorded. */
  validation?: Validation;
}

/** A draft's stable identity across runs: its file and the slug of its name. */
export function draftIdOf(c: Pick<Contribution, "relPath" | "slug">): string {
  return `${c.relPath}#${c.slug}`;
}

export interface QuarantineRecord {
  relPath: string;
  patternKey: string;
  name: string;
  problems: string[];
}

/**
 * The units of one source file a role's model did not read in full when the file was last
 * processed: `left-out` never shown, `shortened` shown in part. `why`: `context-cut` the prompt was
 * cut to fit the context, `no-room` the context had no room for all of the unit next to the rest
 * of the prompt, `pattern-limit` the extractor had found the file's limit of patterns before it.
 */
export interface UnreadRecord {
  relPath: string;
  units: {
    unitId: string;
    title: string;
    startLine: number;
    endLine: number;
    role: string;
    how: "left-out" | "shortened";
    why: "context-cut" | "no-room" | "pattern-limit";
  }[];
}

/** How one draft came to be part of an entry (the merge record). */
export interface MergeRecord {
  draftId: string;
  relPath: string;
  /** The name the draft was written under. */
  name: string;
  /**
   * founder: the first draft of the entry (in draft-ID order); same-name: its normalised name
   * equals another member's; alias: the alias table maps both names to one pattern; model: the
   * synthesizer model judged it the same pattern as `with`; override: the overrides file merged it.
   */
  reason: "founder" | "same-name" | "alias" | "model" | "override";
  /** The member draft it was matched with (absent for the founder). */
  with?: string;
  /** The model's one-line reason (model merges). */
  detail?: string;
}

/** One source file of an entry, with what was cited there and how the draft was verified. */
export interface EntrySource {
  relPath: string;
  draftId: string;
  evidence: EvidenceRef[];
  /** Verification status in words, e.g. "grounding checks and model review passed". */
  verification: string;
}

export interface RelatedRef {
  id: string;
  slug: string;
  name: string;
  /** Why the entries are related, e.g. "both cite C-CONV", "same source file". */
  why: string[];
}

/** A knowledge-base entry: one pattern, merged from every draft about it. */
export interface Entry {
  /** Stable ID (`kb-` + 8 hex), kept across runs while any of its drafts remains. */
  id: string;
  /** Stable slug: the page is `patterns/<slug>.md`. */
  slug: string;
  name: string;
  /** Other names its drafts used, and the alias table's names for it. */
  aliases: string[];
  category: CategoryId;
  tags: string[];
  summary: string;
  whenToUse: string[];
  whenNotToUse: string[];
  pitfalls: string[];
  /** The best validated example among the drafts (see entries.ts for the ranking). */
  example: ExampleRef | null;
  related: RelatedRef[];
  crossRefs: CrossRefs;
  sources: EntrySource[];
  research: ResearchRef[];
  /** Which drafts went into this entry, and why. */
  merges: MergeRecord[];
}

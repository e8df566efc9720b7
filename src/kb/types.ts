import type { CategoryId } from "./taxonomy.ts";

/** A code example copied verbatim from a source unit. */
export interface ExampleRef {
  unitId: string;
  relPath: string;
  startLine: number;
  endLine: number;
  lang: string;
  code: string;
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

/** One validated draft from one file, as merged into a knowledge-base entry. */
export interface Contribution {
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
}

export interface QuarantineRecord {
  relPath: string;
  patternKey: string;
  name: string;
  problems: string[];
}

/** A knowledge-base entry: every contribution with the same slug, merged. */
export interface Entry {
  slug: string;
  name: string;
  category: CategoryId;
  summary: string;
  whenToUse: string[];
  whenNotToUse: string[];
  pitfalls: string[];
  example: ExampleRef | null;
  sources: { relPath: string; evidence: EvidenceRef[] }[];
  research: ResearchRef[];
  aliases: string[];
}

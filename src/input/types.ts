/** A piece of a source file the model can point at by ID instead of retyping it. */
export interface SourceUnit {
  /** `S<n>` for prose sections, `C<n>` for code blocks, `R<n>` for JSON records. Unique within the document. */
  id: string;
  kind: "section" | "code" | "record";
  /** Heading path, record name, or "code" for code blocks. */
  title: string;
  /** 1-based inclusive line span in the normalised file text. */
  startLine: number;
  endLine: number;
  /** The unit's text exactly as in the source (code blocks: the code itself, without fences or indentation). */
  text: string;
  /** Code blocks: the fence's language tag ("" when none). */
  lang?: string;
  /** Code blocks: the section or record the block sits in. */
  parent?: string;
}

export type SourceFormat = "markdown" | "text" | "json";

/** A parsed input file. Stored once by content hash; graph state carries only the ID. */
export interface SourceDocument {
  /** sha256 (hex, first 24 chars) of the normalised text. */
  id: string;
  /** Path relative to the input directory, with forward slashes. */
  relPath: string;
  format: SourceFormat;
  title: string;
  lineCount: number;
  units: SourceUnit[];
  /** Normalisations applied (BOM removed, CRLF, UTF-16 decoded …), for the report. */
  notes: string[];
  /** What the reader left out or simplified (a cap was hit); each is reported as a warning. */
  warnings?: string[];
}

/** Where a markdown file's headings and code blocks are: what the unit splitter needs from a parser. */
export interface MarkdownOutline {
  /** Top-level headings, in order. */
  headings: { depth: number; line: number; text: string }[];
  /** Code blocks in document order (1-based inclusive spans; `value` without fences or indentation). */
  codes: { startLine: number; endLine: number; value: string; lang: string }[];
}

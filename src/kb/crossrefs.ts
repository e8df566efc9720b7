/**
 * Deterministic cross-references: the Clippy lints and Rust API Guidelines IDs (C-CONV,
 * C-COMMON-TRAITS, …) that a pattern's source material names. Nothing here asks a model: a
 * reference is recorded only where the text names it.
 */

export interface CrossRefs {
  /** Clippy lint names, snake_case, sorted. */
  clippy: string[];
  /** Rust API Guidelines IDs (`C-…`), sorted. */
  guidelines: string[];
}

/** The Rust API Guidelines checklist: ID -> chapter page (for links). */
const API_GUIDELINES: Readonly<Record<string, string>> = {
  "C-CASE": "naming",
  "C-CONV": "naming",
  "C-GETTER": "naming",
  "C-ITER": "naming",
  "C-ITER-TY": "naming",
  "C-FEATURE": "naming",
  "C-WORD-ORDER": "naming",
  "C-COMMON-TRAITS": "interoperability",
  "C-CONV-TRAITS": "interoperability",
  "C-COLLECT": "interoperability",
  "C-SERDE": "interoperability",
  "C-SEND-SYNC": "interoperability",
  "C-GOOD-ERR": "interoperability",
  "C-NUM-FMT": "interoperability",
  "C-RW-VALUE": "interoperability",
  "C-EVOCATIVE": "macros",
  "C-MACRO-ATTR": "macros",
  "C-ANYWHERE": "macros",
  "C-MACRO-VIS": "macros",
  "C-MACRO-TY": "macros",
  "C-CRATE-DOC": "documentation",
  "C-EXAMPLE": "documentation",
  "C-QUESTION-MARK": "documentation",
  "C-FAILURE": "documentation",
  "C-LINK": "documentation",
  "C-METADATA": "documentation",
  "C-HTML-ROOT": "documentation",
  "C-RELNOTES": "documentation",
  "C-HIDDEN": "documentation",
  "C-SMART-PTR": "predictability",
  "C-CONV-SPECIFIC": "predictability",
  "C-METHOD": "predictability",
  "C-NO-OUT": "predictability",
  "C-OVERLOAD": "predictability",
  "C-DEREF": "predictability",
  "C-CTOR": "predictability",
  "C-INTERMEDIATE": "flexibility",
  "C-CALLER-CONTROL": "flexibility",
  "C-GENERIC": "flexibility",
  "C-OBJECT": "flexibility",
  "C-NEWTYPE": "type-safety",
  "C-CUSTOM-TYPE": "type-safety",
  "C-BITFLAG": "type-safety",
  "C-BUILDER": "type-safety",
  "C-VALIDATE": "dependability",
  "C-DTOR-FAIL": "dependability",
  "C-DTOR-BLOCK": "dependability",
  "C-DEBUG": "debuggability",
  "C-DEBUG-NONEMPTY": "debuggability",
  "C-SEALED": "future-proofing",
  "C-STRUCT-PRIVATE": "future-proofing",
  "C-NEWTYPE-HIDE": "future-proofing",
  "C-STRUCT-BOUNDS": "future-proofing",
  "C-STABLE": "necessities",
  "C-PERMISSIVE": "necessities",
};

/** Clippy's lint groups: names that follow `clippy::` but are not lints. */
const CLIPPY_GROUPS = new Set(["all", "correctness", "suspicious", "style", "complexity", "perf", "pedantic", "restriction", "nursery", "cargo"]);

const CLIPPY_PATH = /\bclippy::([a-z][a-z0-9_]*)\b/g;
const CLIPPY_DOC_URL = /rust-clippy\/[^\s#)]*index\.html#([a-z][a-z0-9_]*)\b/g;
const LINT_NAME = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const GUIDELINE_ID = /\bC-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*\b/g;
const GUIDELINE_ANCHOR = /#(c-[a-z][a-z0-9]*(?:-[a-z0-9]+)*)\b/g;

/** What extraction reads: a source unit's kind, title and text (see src/input/types.ts). */
export interface CrossRefSource {
  kind: string;
  title: string;
  text: string;
}

/**
 * Extracts cross-references from source units:
 * - Clippy: `clippy::name` anywhere (attributes, paths); lint-documentation URLs
 *   (`…/rust-clippy/…/index.html#name`); and lint records in JSON — a record with a `lint: name`
 *   line, or a record titled with a snake_case name that has a `group: <clippy group>` line (the
 *   shapes of Clippy's own lint metadata).
 * - API Guidelines: any ID of the published checklist (`C-CONV`, …), and unknown IDs only where
 *   they are written as references, `(C-XYZ)` or `[C-XYZ]`; checklist anchors (`#c-conv`) count
 *   when the ID is known.
 */
export function extractCrossRefs(units: readonly CrossRefSource[]): CrossRefs {
  const clippy = new Set<string>();
  const guidelines = new Set<string>();
  for (const u of units) {
    const text = `${u.title}\n${u.text}`;
    for (const m of text.matchAll(CLIPPY_PATH)) if (m[1] && !CLIPPY_GROUPS.has(m[1])) clippy.add(m[1]);
    for (const m of text.matchAll(CLIPPY_DOC_URL)) if (m[1] && !CLIPPY_GROUPS.has(m[1])) clippy.add(m[1]);
    if (u.kind === "record") {
      const lintLine = /^lint:\s*([a-z][a-z0-9_]*)\s*$/m.exec(u.text)?.[1];
      const title = u.title.replace(/ \(part \d+\)$/, "").trim();
      if (lintLine && LINT_NAME.test(lintLine)) clippy.add(lintLine);
      else if (LINT_NAME.test(title) && title.includes("_") && /^group:\s*([a-z]+)\s*$/m.test(u.text)) {
        const group = /^group:\s*([a-z]+)\s*$/m.exec(u.text)?.[1] ?? "";
        if (CLIPPY_GROUPS.has(group)) clippy.add(title);
      }
    }
    for (const m of text.matchAll(GUIDELINE_ID)) {
      const id = m[0];
      const before = text[(m.index ?? 0) - 1];
      const after = text[(m.index ?? 0) + id.length];
      if (id in API_GUIDELINES || (before === "(" && after === ")") || (before === "[" && after === "]")) guidelines.add(id);
    }
    for (const m of text.matchAll(GUIDELINE_ANCHOR)) {
      const id = (m[1] ?? "").toUpperCase();
      if (id in API_GUIDELINES) guidelines.add(id);
    }
  }
  return { clippy: [...clippy].sort(), guidelines: [...guidelines].sort() };
}

export function mergeCrossRefs(list: readonly CrossRefs[]): CrossRefs {
  return {
    clippy: [...new Set(list.flatMap((c) => c.clippy))].sort(),
    guidelines: [...new Set(list.flatMap((c) => c.guidelines))].sort(),
  };
}

export function clippyLintUrl(lint: string): string {
  return `https://rust-lang.github.io/rust-clippy/master/index.html#${lint}`;
}

export function guidelineUrl(id: string): string {
  const chapter = API_GUIDELINES[id];
  return chapter
    ? `https://rust-lang.github.io/api-guidelines/${chapter}.html#${id.toLowerCase()}`
    : "https://rust-lang.github.io/api-guidelines/checklist.html";
}

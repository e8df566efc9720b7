/**
 * The decision the code check makes after rustc's first pass (`--emit=dep-info`, which parses and
 * expands macros, resolves names and stops before type checking or const evaluation): may the
 * snippet be compiled for real, or did that pass show the compiler reaching outside it?
 *
 * rustc lists in the dep-info every file it read (modules, `include*!`, `#[path]`, debugger
 * visualizers) and every environment variable `env!`/`option_env!` asked for (`# env-dep:`, also
 * for variables that are unset), however the snippet spelled it. A read that failed (a missing
 * file, a directory, a FIFO that blocks, `/dev/zero` that never ends) shows as an error or as the
 * pass not ending within its limits. So the snippet is compiled only when all of these hold:
 * the pass ended by itself (no signal, no time or resource limit), rustc ran normally (exit 0 or 1),
 * the dep-info names exactly the snippet file and nothing else (no env-dep, no other line), and
 * every error is one a fragment gets for a name it does not define (or a signature without a
 * body): an allow list, so an error rustc adds in a later version is refused, not let through. Every other outcome gets the
 * same refusal (UNIFORM_REFUSAL), whatever happened: whether a file exists, is readable or is a
 * device must not change the verdict. The pass's diagnostics are only read here, never published.
 */

/** What the first pass left behind. */
export interface FirstPass {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The dep-info file's text, or undefined when rustc wrote none. */
  depInfo: string | undefined;
  /** rustc's JSON diagnostics (one object a line). */
  stderr: string;
}

/** The one detail every refused first pass gets (it must not say which way the pass failed). */
export const UNIFORM_REFUSAL =
  "parses; not compiled: rustc's first pass (macro expansion) did not stay inside the snippet and the check's limits — it reached for a file or an environment variable, failed on more than a missing name, or ran out of time or memory";

/**
 * Errors of name resolution: what a fragment gets for names it uses but does not define. None of
 * them comes from reading a file or the environment.
 */
const NAME_ERRORS = new Set([
  "E0106", // missing lifetime specifier
  "E0252",
  "E0254",
  "E0255",
  "E0261", // undeclared lifetime
  "E0401",
  "E0403",
  "E0404",
  "E0405", // cannot find trait
  "E0407",
  "E0408",
  "E0411",
  "E0412", // cannot find type
  "E0415",
  "E0416",
  "E0422",
  "E0423",
  "E0424",
  "E0425", // cannot find value
  "E0426",
  "E0428",
  "E0429",
  "E0430",
  "E0431",
  "E0432", // unresolved import (an external crate)
  "E0433", // failed to resolve a path
  "E0434",
  "E0435",
  "E0437",
  "E0438",
  "E0530",
  "E0531",
  "E0532",
  "E0573",
  "E0574",
  "E0603", // private item
  "E0659", // ambiguous name
]);

/**
 * Errors rustc gives without a code that no file or environment read can cause: a macro or
 * attribute of an external crate, and a signature without a body (notes that show an API).
 */
const CODELESS_ALLOWED = [
  /^cannot (?:find|determine resolution for) (?:the )?(?:macro|derive macro|attribute|attribute macro) `[^`\s]+`(?: in this scope)?$/,
  /^(?:free function|associated function in `impl`|associated constant in `impl`|associated type in `impl`) without (?:a )?body$/,
  /^`self` parameter is only allowed in associated functions$/,
];

/** The exact dep-info of a pass that read only the snippet (rustc 1.63 to 1.95 write these two lines). */
const SNIPPET_ONLY = new Set(["snippet.d: snippet.rs", "snippet.rs:"]);

function depInfoNamesOnlySnippet(depInfo: string | undefined): boolean {
  if (depInfo === undefined) return false;
  const lines = depInfo
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "");
  return lines.length > 0 && lines.every((l) => SNIPPET_ONLY.has(l)) && lines.includes("snippet.d: snippet.rs");
}

function onlyNameErrors(stderr: string): boolean {
  for (const line of stderr.split("\n")) {
    if (line.trim() === "") continue;
    let d: { level?: unknown; message?: unknown; code?: { code?: unknown } | null };
    try {
      d = JSON.parse(line);
    } catch {
      return false; // rustc printed something that is not a diagnostic (a panic, a crash): not a normal pass
    }
    if (d.level !== "error") continue;
    const message = typeof d.message === "string" ? d.message : "";
    if (/^aborting due to /.test(message)) continue;
    const code = typeof d.code?.code === "string" ? d.code.code : undefined;
    if (code !== undefined ? !NAME_ERRORS.has(code) : !CODELESS_ALLOWED.some((r) => r.test(message))) return false;
  }
  return true;
}

/** Whether the snippet may be compiled: the first pass read nothing but the snippet and ended normally. */
export function firstPassStayedInside(pass: FirstPass): boolean {
  if (pass.timedOut || pass.signal !== null) return false;
  if (pass.code !== 0 && pass.code !== 1) return false;
  return depInfoNamesOnlySnippet(pass.depInfo) && onlyNameErrors(pass.stderr);
}

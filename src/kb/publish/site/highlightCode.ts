/**
 * Syntax highlighting for the site: the one module that uses shiki. Only the Rust grammar and one
 * theme are loaded (shiki's fine-grained core with its JavaScript regex engine: no WebAssembly, no
 * bundle of 200 languages), once per process, on first use (~20 ms).
 */
import { createHighlighterCoreSync, type HighlighterCore } from "shiki/core";
import { createJavaScriptRegexEngine } from "shiki/engine/javascript";
import rust from "shiki/langs/rust.mjs";
import githubLight from "shiki/themes/github-light.mjs";

const CODE_THEME = "github-light";
const RUST_LANGS = new Set(["rust", "rs", "", "no_run", "ignore", "should_panic", "compile_fail", "edition2015", "edition2018", "edition2021", "edition2024"]);

let highlighter: HighlighterCore | undefined;

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * A code block as HTML: Rust (a fence tagged `rust`, `rust,ignore`, rustdoc's `no_run`, … or
 * untagged) highlighted, anything else escaped as it is. Deterministic: same code, same bytes.
 */
export function highlightCode(code: string, lang: string): string {
  const tag = (lang.split(/[,\s]/)[0] ?? "").trim().toLowerCase();
  if (!RUST_LANGS.has(tag)) return `<pre class="code"><code>${escapeHtml(code)}</code></pre>`;
  highlighter ??= createHighlighterCoreSync({ themes: [githubLight], langs: [rust], engine: createJavaScriptRegexEngine() });
  return highlighter.codeToHtml(code, { lang: "rust", theme: CODE_THEME });
}

/**
 * The code check's fast first filter: finds what in a Rust snippet would make the compiler itself
 * read files, the environment or other crates while checking it: `include!`, `include_str!`,
 * `include_bytes!`, `env!`, `option_env!`, `#[path]`, `#[debugger_visualizer]`, `extern crate`,
 * and `#![feature]` (nightly only). A snippet that has any of these is not compiled, with a reason
 * that names it. This is not the defence that decides: rustCheck.ts refuses whatever rustc's own
 * first pass shows it reaching (dep-info), however it was spelled. This filter gives the common
 * cases a precise reason and costs no compiler run.
 *
 * It works on tree-sitter's tokens, so comments and string literals (raw, byte and C strings
 * included) never trigger it, and whitespace, comments or a raw identifier (`r#include_str`)
 * between the name and its `!` never hide it. Names are refused wherever they appear as tokens
 * (also inside other macros' arguments and `use … as` renames), and so are macro tricks that could
 * be any of them in disguise: a macro invoked through a macro argument (`$m!(…)`) or repetition
 * (`$($p)*!`), an attribute built from a macro argument (`# $b`, `#[$m]`), `extern $c core`.
 * Anything tree-sitter lexes unlike rustc (an unknown string prefix glued to a literal) is refused too.
 */
import type { Node } from "web-tree-sitter";

/** Read a file wherever they appear (even without `!`, as in `use std::include_str as x`). */
const FILE_MACROS = new Set(["include", "include_str", "include_bytes"]);
/** Read the environment when invoked, or renamed (`use std::env as e; e!(…)`). */
const ENV_MACROS = new Set(["env", "option_env"]);
/** Attributes that make rustc read another file. */
const FILE_ATTRIBUTES = new Set(["path", "debugger_visualizer"]);
/** Tokens whose text is data, not code. */
const OPAQUE = new Set(["string_literal", "raw_string_literal", "char_literal", "line_comment", "block_comment"]);
const COMMENTS = new Set(["line_comment", "block_comment"]);

interface Token {
  type: string;
  text: string;
  start: number;
  end: number;
}

/** The snippet's tokens in order (a string or comment is one token), walked without recursion. */
function tokens(root: Node): Token[] {
  const out: Token[] = [];
  const cursor = root.walk();
  try {
    for (;;) {
      const n = cursor.currentNode;
      const leaf = n.childCount === 0 || OPAQUE.has(n.type);
      if (leaf) {
        if (n.endIndex > n.startIndex) out.push({ type: n.type, text: n.text, start: n.startIndex, end: n.endIndex });
      } else if (cursor.gotoFirstChild()) continue;
      while (!cursor.gotoNextSibling()) if (!cursor.gotoParent()) return out;
    }
  } finally {
    cursor.delete();
  }
}

function identName(t: Token): string | undefined {
  if (t.type !== "identifier" && t.type !== "field_identifier" && t.type !== "type_identifier") return undefined;
  return t.text.startsWith("r#") ? t.text.slice(2) : t.text;
}

/** Why this snippet must not be compiled, or undefined when nothing in it reaches outside itself. */
export function compileTimeAccess(root: Node): string | undefined {
  const all = tokens(root);
  const code = all.filter((t) => !COMMENTS.has(t.type));
  for (let i = 0; i < code.length; i++) {
    const t = code[i] as Token;
    const next = code[i + 1];
    const prev = code[i - 1];
    if (OPAQUE.has(t.type) && prev && prev.end === t.start && identName(prev) !== undefined)
      return `\`${prev.text}${t.text.slice(0, 2)}…\`: a literal prefix the checker does not know`;
    const name = identName(t);
    if (name !== undefined) {
      if (FILE_MACROS.has(name)) return `uses \`${name}!\`, which reads a file while compiling`;
      if (ENV_MACROS.has(name) && (next?.type === "!" || next?.type === "as"))
        return `uses \`${name}!\`, which reads the compiler's environment while compiling`;
    }
    if (t.type === "metavariable" && next?.type === "!")
      return `invokes a macro named by a macro argument (\`${t.text}!\`), which could read files or the environment`;
    if (t.type === "!" && repetitionEndsAt(code, i - 1))
      return "invokes a macro named by a macro repetition (`$(…)*!`), which could read files or the environment";
    if (t.text === "extern" && next?.type === "crate") return "uses `extern crate`, which loads a compiled library";
    if ((t.text === "extern" && isMacroArgument(next)) || (isMacroArgument(t) && next?.type === "crate"))
      return "builds `extern crate` from a macro argument, which loads a compiled library";
    if (t.type === "#") {
      let j = i + 1;
      if (code[j]?.type === "!") j++;
      if (isMacroArgument(code[j])) return "builds an attribute from a macro argument (`# $…`), which could make the compiler read another file";
      if (code[j]?.type !== "[") continue;
      const inner = j === i + 2;
      let depth = 0;
      for (; j < code.length; j++) {
        const a = code[j] as Token;
        if (a.type === "[" || a.type === "(" || a.type === "{") depth++;
        else if (a.type === "]" || a.type === ")" || a.type === "}") {
          depth--;
          if (depth === 0) break;
        }
        const attr = identName(a);
        if (attr !== undefined && FILE_ATTRIBUTES.has(attr)) return `uses the attribute \`#[${attr}]\`, which makes the compiler read another file`;
        if (inner && attr === "feature") return "uses `#![feature]`, which needs nightly Rust (stable rustc refuses it)";
        if (a.type === "metavariable") return `builds an attribute from a macro argument (\`${a.text}\`), which could make the compiler read another file`;
      }
    }
  }
  return undefined;
}

/** A macro argument in a macro's body: `$name`, or a `$` that starts one (`$(…)`). */
function isMacroArgument(t: Token | undefined): boolean {
  return t !== undefined && (t.type === "metavariable" || t.type === "$");
}

/** Whether the tokens ending at `end` are a macro repetition `$( … )` with its operator (`*`, `+` or `?`). */
function repetitionEndsAt(code: readonly Token[], end: number): boolean {
  if (!["*", "+", "?"].includes(code[end]?.type ?? "") || code[end - 1]?.type !== ")") return false;
  let depth = 0;
  for (let j = end - 1; j >= 0; j--) {
    const type = (code[j] as Token).type;
    if (type === ")") depth++;
    else if (type === "(") {
      depth--;
      if (depth === 0) return code[j - 1]?.type === "$";
    }
  }
  return false;
}

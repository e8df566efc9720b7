/**
 * rustc's message for a verdict detail, with every value that a computation could have produced
 * replaced by `…`: numbers (an index out of bounds, an array length, a constant's value), quoted
 * strings and characters (a panic message, a pattern not covered). What stays is rustc's wording
 * and the names in backticks, which come from the snippet's own text. A snippet only reaches the
 * compile whose messages these are after rustc's first pass showed it reads nothing but itself
 * (firstPassStayedInside.ts); this is the second line: even a value computed from bytes the first
 * pass missed could not be carried out as a number or a quoted literal.
 */
export function withoutValues(message: string): string {
  return (
    message
      // A panic's message is whatever the code formatted: everything after "panicked" goes.
      .replace(/\bpanicked\b.*$/s, "panicked …")
      // "…", b"…", c"…" and raw strings r#"…"#, escapes included.
      .replace(/(?:\b(?:b|c|r|br|cr)#*)?"(?:[^"\\]|\\.)*"#*/g, "…")
      // 'x', '\n', '\u{73}', b'x', 'text' — not a lifetime (`'a` has no closing quote) nor the
      // apostrophe of "doesn't" (it follows a letter).
      .replace(/(?:\bb'|(?<![A-Za-z0-9_])')(?:[^'\\`\n]|\\.)*'/g, "…")
      // Numbers in any base, with an optional suffix (8316790972537328197, 0x73_u8, 1e9, 2.5f32).
      .replace(/(?<![A-Za-z0-9_])\d[\dA-Za-z_]*(?:\.\d[\dA-Za-z_]*)*/g, "…")
  );
}

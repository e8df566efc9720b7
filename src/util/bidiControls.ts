/**
 * The Unicode controls that reorder how text is displayed (the "Trojan Source" characters): the
 * embeddings and overrides U+202A to U+202E, the isolates U+2066 to U+2069, and the marks U+200E,
 * U+200F and U+061C. In a page, a terminal or a viewer of kb.json they can make text read unlike
 * its bytes (a file name that shows as another, a line that seems to end elsewhere), so data that
 * reaches a reader never carries them: pages and terminal lines drop them, file names escape them.
 */

/** A regex character class body of the bidi controls (for building regexes). */
export const BIDI_CONTROL_CLASS = "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";

const BIDI = new RegExp(`[${BIDI_CONTROL_CLASS}]`, "g");

/** `text` without bidi controls. */
export function withoutBidiControls(text: string): string {
  return text.replace(BIDI, "");
}

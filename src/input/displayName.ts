import { BIDI_CONTROL_CLASS } from "../util/bidiControls.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Characters a name may not show as they are: C0 and C1 controls (newline and tab included), DEL, bidi controls. */
const UNSAFE_IN_NAME = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f${BIDI_CONTROL_CLASS}]`);

/**
 * A file name as text: UTF-8 as it is, unless it is not valid UTF-8 or holds a character a name
 * may not show (a newline would print a fake progress line; a bidi override would show another
 * name): then each such byte, and each byte that is not part of valid UTF-8, is written `\xHH` (a
 * Latin-1 `café` is `caf\xE9`, `a<newline>b` is `a\x0Ab`). A backslash in such a name is doubled,
 * so its escapes read back unambiguously; a valid name that literally holds `\xE9` still shows the same.
 */
export function displayName(bytes: Uint8Array): string {
  try {
    const text = utf8.decode(bytes);
    if (!UNSAFE_IN_NAME.test(text)) return text;
  } catch {
    // not UTF-8: escaped below
  }
  const hex = (b: Uint8Array) => [...b].map((x) => `\\x${x.toString(16).toUpperCase().padStart(2, "0")}`).join("");
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const n = utf8SequenceLength(bytes, i);
    if (n > 0) {
      const ch = utf8.decode(bytes.subarray(i, i + n));
      out += ch === "\\" ? "\\\\" : UNSAFE_IN_NAME.test(ch) ? hex(bytes.subarray(i, i + n)) : ch;
      i += n;
    } else {
      out += hex(bytes.subarray(i, i + 1));
      i++;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there does not start one. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i] ?? 0;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const x = b[i + k];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** Turns raw file bytes into normalised text, or says why the file is not text. */
export type DecodeResult = { ok: true; text: string; notes: string[] } | { ok: false; reason: string };

const CONTROL = /[\u0000-\u0008\u000B\u000E-\u001F\u007F]/g;

export function decodeText(bytes: Uint8Array): DecodeResult {
  if (bytes.length === 0) return { ok: false, reason: "empty file" };
  const notes: string[] = [];
  let text: string;
  try {
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      notes.push("UTF-8 byte-order mark removed");
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(3));
    } else if (bytes[0] === 0xff && bytes[1] === 0xfe) {
      notes.push("decoded from UTF-16LE");
      text = new TextDecoder("utf-16le", { fatal: true }).decode(bytes.subarray(2));
    } else if (bytes[0] === 0xfe && bytes[1] === 0xff) {
      notes.push("decoded from UTF-16BE");
      text = new TextDecoder("utf-16be", { fatal: true }).decode(bytes.subarray(2));
    } else {
      const utf16 = sniffUtf16(bytes);
      if (utf16) {
        notes.push(`decoded from ${utf16.toUpperCase()} (no byte-order mark)`);
        text = new TextDecoder(utf16, { fatal: true }).decode(bytes);
      } else if (bytes.includes(0)) {
        return { ok: false, reason: "binary content (NUL bytes), not text" };
      } else {
        text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      }
    }
  } catch {
    return { ok: false, reason: "not valid UTF-8 or UTF-16 text" };
  }
  if (text.includes("\r")) {
    notes.push("line endings normalised to LF");
    text = text.replace(/\r\n?/g, "\n");
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const controls = text.match(CONTROL)?.length ?? 0;
  if (controls > 0 && controls / text.length > 0.01) return { ok: false, reason: "binary content (control characters), not text" };
  if (text.trim() === "") return { ok: false, reason: "empty (whitespace only)" };
  return { ok: true, text, notes };
}

/** UTF-16 without a BOM: most ASCII text then has a NUL in every other byte. */
function sniffUtf16(bytes: Uint8Array): "utf-16le" | "utf-16be" | undefined {
  if (bytes.length < 4 || bytes.length % 2 !== 0) return undefined;
  const n = Math.min(bytes.length, 4096);
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < n; i++) {
    if (bytes[i] === 0) {
      if (i % 2 === 0) evenNul++;
      else oddNul++;
    }
  }
  const pairs = n / 2;
  if (oddNul > pairs * 0.6 && evenNul < pairs * 0.05) return "utf-16le";
  if (evenNul > pairs * 0.6 && oddNul < pairs * 0.05) return "utf-16be";
  return undefined;
}

import { createHash } from "node:crypto";

const TRAILING = /\s+(pattern|idiom)s?$/;
const LEADING = /^(the|a|an)\s+/;

/** Normalises a pattern name for matching: lower case, no accents or punctuation, no "the …" / "… pattern". */
export function normalizeName(name: string): string {
  let s = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[`*_"'“”‘’]/g, "")
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
  s = s.replace(LEADING, "").replace(TRAILING, "").trim();
  return s;
}

/** A stable, file-system-safe slug for a pattern name (same name in, same slug out, forever). */
export function slugify(name: string): string {
  const base = normalizeName(name).replace(/\s+/g, "-").slice(0, 60).replace(/-+$/, "");
  if (base.length > 0) return base;
  return `pattern-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
}

import { createHash } from "node:crypto";

const TRAILING = [/\s+in rust$/, /\s+(design\s+)?(anti\s+)?(pattern|idiom)s?$/];
const LEADING = /^(the|a|an)\s+/;

/**
 * Normalises a pattern name for matching: lower case, no accents or punctuation, no "the …",
 * "… pattern", "… idiom", "… anti-pattern" or "… in Rust".
 */
export function normalizeName(name: string): string {
  let s = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[`*_"'“”‘’]/g, " ")
    .replace(/&/g, " and ")
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
  s = s.replace(LEADING, "");
  for (const t of TRAILING) s = s.replace(t, "");
  return s.trim();
}

/** Singular form of one word, by the plain English rules (enough to match "newtypes" with "newtype"). */
function singular(word: string): string {
  if (word.length <= 3 || /(ss|us|is)$/.test(word)) return word;
  if (word.endsWith("ies") && word.length > 4) return `${word.slice(0, -3)}y`;
  if (/(ches|shes|xes)$/.test(word)) return word.slice(0, -2);
  if (word.endsWith("s")) return word.slice(0, -1);
  return word;
}

/**
 * The key two names must share to count as the same name: the normalised name with every word
 * singular ("Newtypes" and "The newtype pattern" give "newtype"). Aliases are applied on top of
 * this (see aliases.ts).
 */
export function nameKey(name: string): string {
  return normalizeName(name).split(" ").filter(Boolean).map(singular).join(" ");
}

/** A stable, file-system-safe slug for a pattern name (same name in, same slug out, forever). */
export function slugify(name: string): string {
  const base = normalizeName(name).replace(/\s+/g, "-").slice(0, 60).replace(/-+$/, "");
  if (base.length > 0) return base;
  return `pattern-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
}

/**
 * Deterministic rendering of the knowledge base: the same entries always give the same bytes
 * (stable order, no timestamps), so re-runs produce minimal diffs.
 */
import { CATEGORIES, categoryTitle } from "./taxonomy.ts";
import type { Contribution, Entry, QuarantineRecord } from "./types.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Merges all contributions of one slug; order-independent. */
export function mergeEntry(contributions: readonly Contribution[]): Entry {
  const sorted = [...contributions].sort((a, b) => byString(a.relPath, b.relPath) || byString(a.patternKey, b.patternKey));
  const primary = sorted[0];
  if (!primary) throw new Error("mergeEntry needs at least one contribution");
  const uniq = (xs: string[]) => {
    const seen = new Set<string>();
    return xs.filter((x) => {
      const k = x.trim().toLowerCase();
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  };
  const research = new Map<string, Contribution["research"][number]>();
  for (const c of sorted) for (const r of c.research) if (!research.has(r.citation)) research.set(r.citation, r);
  const sources = new Map<string, Contribution["evidence"]>();
  for (const c of sorted) {
    const list = sources.get(c.relPath) ?? [];
    for (const e of c.evidence) if (!list.some((x) => x.unitId === e.unitId)) list.push(e);
    sources.set(c.relPath, list);
  }
  return {
    slug: primary.slug,
    name: primary.name,
    category: primary.category,
    summary: primary.summary,
    whenToUse: uniq(sorted.flatMap((c) => c.whenToUse)).slice(0, 8),
    whenNotToUse: uniq(sorted.flatMap((c) => c.whenNotToUse)).slice(0, 6),
    pitfalls: uniq(sorted.flatMap((c) => c.pitfalls)).slice(0, 6),
    example: sorted.find((c) => c.example)?.example ?? null,
    sources: [...sources.entries()]
      .sort((a, b) => byString(a[0], b[0]))
      .map(([relPath, evidence]) => ({
        relPath,
        evidence: [...evidence].sort((a, b) => a.startLine - b.startLine || byString(a.unitId, b.unitId)),
      })),
    research: [...research.values()].sort((a, b) => byString(a.citation, b.citation)),
    aliases: uniq(sorted.map((c) => c.name))
      .filter((n) => n !== primary.name)
      .sort(byString),
  };
}

/** Model text is data: it may not open headings, HTML or fences in our pages. */
export function inline(text: string): string {
  return text
    .replace(/\s+/g, " ")
    .trim()
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/^#+/, (m) => m.replace(/#/g, "\\#"));
}

function paragraph(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((p) => inline(p))
    .filter((p) => p !== "")
    .join("\n\n");
}

export function fence(code: string, lang: string): string {
  const longest = Math.max(2, ...[...code.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = "`".repeat(longest + 1);
  return `${ticks}${lang}\n${code}\n${ticks}`;
}

function lines(a: number, b: number): string {
  return a === b ? `line ${a}` : `lines ${a}-${b}`;
}

export function renderEntryPage(entry: Entry): string {
  const out: string[] = [];
  out.push(`# ${inline(entry.name)}`, "");
  out.push(`Category: [${categoryTitle(entry.category)}](../categories/${entry.category}.md)`);
  if (entry.aliases.length > 0) out.push(`Also called: ${entry.aliases.map(inline).join(", ")}`);
  out.push("", paragraph(entry.summary), "");
  out.push("## Example", "");
  if (entry.example) {
    const ex = entry.example;
    out.push(`From \`${ex.relPath}\` ${lines(ex.startLine, ex.endLine)} (${ex.unitId}), quoted verbatim:`, "");
    out.push(fence(ex.code, ex.lang || "rust"), "");
  } else {
    out.push("No code example in the sources.", "");
  }
  out.push("## When to use", "", ...entry.whenToUse.map((x) => `- ${inline(x)}`), "");
  out.push("## When not to use", "", ...entry.whenNotToUse.map((x) => `- ${inline(x)}`), "");
  out.push("## Pitfalls", "");
  if (entry.pitfalls.length > 0) out.push(...entry.pitfalls.map((x) => `- ${inline(x)}`));
  else out.push("None recorded.");
  out.push("", "## Sources", "");
  for (const s of entry.sources) {
    const where = s.evidence.map((e) => `${e.unitId} ${lines(e.startLine, e.endLine)}`).join("; ");
    out.push(`- \`${s.relPath}\` (${where})`);
  }
  for (const r of entry.research) {
    const label = r.url ? `[${inline(r.title)}](${r.url})` : `${inline(r.title)}`;
    out.push(`- ${label} — ${r.provider}: \`${r.citation}\``);
  }
  out.push("");
  return out.join("\n");
}

export function renderIndex(entries: readonly Entry[], quarantined: number): string {
  const out: string[] = ["# Rust patterns knowledge base", ""];
  out.push(
    `${entries.length} ${entries.length === 1 ? "entry" : "entries"} from ${new Set(entries.flatMap((e) => e.sources.map((s) => s.relPath))).size} source files.`,
  );
  if (quarantined > 0) out.push(`${quarantined} drafts failed validation: see [quarantine.md](quarantine.md).`);
  out.push("");
  for (const cat of CATEGORIES) {
    const list = entries.filter((e) => e.category === cat.id);
    if (list.length === 0) continue;
    out.push(`## [${cat.title}](categories/${cat.id}.md) (${list.length})`, "");
    for (const e of list) out.push(`- [${inline(e.name)}](patterns/${e.slug}.md) — ${firstSentence(e.summary)}`);
    out.push("");
  }
  return out.join("\n");
}

export function renderCategoryPage(categoryId: string, entries: readonly Entry[]): string {
  const out: string[] = [
    `# ${categoryTitle(categoryId)}`,
    "",
    `${entries.length} ${entries.length === 1 ? "entry" : "entries"}. [All categories](../index.md)`,
    "",
  ];
  for (const e of entries) {
    out.push(`## [${inline(e.name)}](../patterns/${e.slug}.md)`, "", paragraph(e.summary), "");
    out.push(`Sources: ${e.sources.map((s) => `\`${s.relPath}\``).join(", ")}`, "");
  }
  return out.join("\n");
}

export function renderQuarantine(records: readonly QuarantineRecord[]): string {
  const out: string[] = ["# Quarantine", "", "Drafts that did not pass validation after the allowed repair rounds. They are not in the knowledge base.", ""];
  if (records.length === 0) out.push("Nothing is quarantined.", "");
  for (const r of records) {
    out.push(`## ${inline(r.name)} — \`${r.relPath}\` (${r.patternKey})`, "");
    for (const p of r.problems) out.push(`- ${inline(p)}`);
    out.push("");
  }
  return out.join("\n");
}

function firstSentence(text: string): string {
  const flat = inline(text);
  const m = /^(.{20,200}?[.!?])(\s|$)/.exec(flat);
  return m?.[1] ?? (flat.length > 200 ? `${flat.slice(0, 199)}…` : flat);
}

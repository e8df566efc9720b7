import type { UnreadHow, UnreadWhy } from "../llm/promptUnits.ts";
import { ROLES } from "../llm/roles.ts";
import type { RunDatabase } from "../store/RunDatabase.ts";

/** A file of the run with units a role's model did not read in full (the run summary's `unread`). */
export interface UnreadFile {
  path: string;
  /** One entry per unit, role and how (src/llm/promptUnits.ts: `left-out` never shown, `shortened` shown in part). */
  units: { id: string; role: string; how: UnreadHow; why: UnreadWhy }[];
}

/** The run's files with units not read in full, from the run database (so a resumed run reports what happened before too). */
export function unreadFiles(db: RunDatabase, runId: string): UnreadFile[] {
  const byFile = new Map<string, UnreadFile>();
  for (const u of db.listUnread(runId)) {
    const file = byFile.get(u.relPath) ?? { path: u.relPath, units: [] };
    file.units.push({ id: u.unitId, role: u.role, how: u.how, why: u.why });
    byFile.set(u.relPath, file);
  }
  return [...byFile.values()];
}

const rank = (role: string) => (ROLES as readonly string[]).indexOf(role);

const WHY: Record<UnreadWhy, string> = {
  "context-cut": "prompt cut to fit the context",
  "no-room": "no room in the context",
  "pattern-limit": "the file's pattern limit was reached first",
};

/** The summary's lines: a count, then per file which role missed which units and why (at most `limit` files). */
export function formatUnread(files: readonly UnreadFile[], limit = 20): string[] {
  if (files.length === 0) return [];
  const units = files.reduce((n, f) => n + new Set(f.units.map((u) => u.id)).size, 0);
  const lines = [`units not read in full: ${units} in ${files.length} ${files.length === 1 ? "file" : "files"} (listed in quarantine.md and kb.json)`];
  for (const f of files.slice(0, limit)) {
    // Grouped by role (in pipeline order), then left out before shortened.
    const sorted = [...f.units].sort((a, b) => rank(a.role) - rank(b.role) || (a.how === b.how ? 0 : a.how === "left-out" ? -1 : 1));
    const groups = new Map<string, string[]>();
    for (const u of sorted) {
      const key = `${u.role} ${u.how === "left-out" ? "left out" : "shortened"} %s (${WHY[u.why]})`;
      groups.set(key, [...(groups.get(key) ?? []), u.id]);
    }
    lines.push(`  not read in full ${f.path}: ${[...groups].map(([key, ids]) => key.replace("%s", ids.join(", "))).join("; ")}`);
  }
  if (files.length > limit) lines.push(`  … and ${files.length - limit} more files`);
  return lines;
}

/**
 * What `npm run runs` shows: runs and their progress, read from the run database (and, for
 * quarantine reasons, read-only from the run's knowledge base).
 */
import fs from "node:fs";
import path from "node:path";
import { KnowledgeBase } from "../../kb/KnowledgeBase.ts";
import { fmtMs } from "../../progress/Reporter.ts";
import type { RunDatabase, RunFileRow, RunRow } from "../../store/RunDatabase.ts";

export interface RunListItem {
  id: string;
  status: RunRow["status"];
  input: string;
  out: string;
  model: string;
  startedAt: string;
  endedAt: string | null;
  files: { total: number; finished: number };
}

export interface RunDetails extends RunListItem {
  settingsHash: string;
  pid: number | null;
  files: { total: number; finished: number; byStatus: Record<string, number> };
  fileRows: RunFileRow[];
  quarantined: { relPath: string; name: string; problems: string[] }[];
  totals: { calls: number; inputTokens: number; outputTokens: number; modelMs: number; wallMs: number | null };
}

const FINISHED = new Set(["processed", "quarantined", "skipped", "unchanged"]);

export function listRuns(db: RunDatabase): RunListItem[] {
  return db.listRuns().map((r) => runItem(r, db.listFiles(r.id)));
}

/** What the list says of a run, and what its details open with. */
function runItem(r: RunRow, files: readonly RunFileRow[]): RunListItem {
  return {
    id: r.id,
    status: r.status,
    input: r.input,
    out: r.out,
    model: r.model,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    files: { total: files.length, finished: files.filter((f) => FINISHED.has(f.status)).length },
  };
}

export function showRun(db: RunDatabase, id: string): RunDetails | undefined {
  const r = db.getRun(id);
  if (!r) return undefined;
  const fileRows = db.listFiles(id);
  const byStatus: Record<string, number> = {};
  for (const f of fileRows) byStatus[f.status] = (byStatus[f.status] ?? 0) + 1;
  const calls = db.callTotals(id);
  let wallMs: number | null = null;
  try {
    wallMs = r.summary ? ((JSON.parse(r.summary) as { wallMs?: number }).wallMs ?? null) : null;
  } catch {
    wallMs = null;
  }
  const { files, ...head } = runItem(r, fileRows);
  return {
    ...head,
    pid: r.pid,
    settingsHash: safeHash(r.settings),
    files: { ...files, byStatus },
    fileRows,
    quarantined: readQuarantine(r.out, new Set(fileRows.map((f) => f.relPath))),
    totals: { ...calls, wallMs },
  };
}

function safeHash(settings: string): string {
  try {
    return String((JSON.parse(settings) as { hash?: string }).hash ?? "");
  } catch {
    return "";
  }
}

/** Quarantined drafts of this run's files, read-only from the knowledge base (absent or unreadable KB: none). */
function readQuarantine(out: string, files: ReadonlySet<string>): RunDetails["quarantined"] {
  if (!fs.existsSync(path.join(out, ".kb", "kb.sqlite"))) return [];
  let kb: KnowledgeBase | undefined;
  try {
    kb = KnowledgeBase.openReadOnly(out);
    return kb
      .quarantined()
      .filter((q) => files.has(q.relPath))
      .map((q) => ({ relPath: q.relPath, name: q.name, problems: q.problems }));
  } catch {
    return [];
  } finally {
    kb?.close();
  }
}

export function formatRunList(items: readonly RunListItem[]): string {
  if (items.length === 0) return "No runs in this database yet. Start one with: npm run graph -- --input DIR";
  const rows = items.map((r) => [
    r.id,
    r.status,
    `${r.files.finished}/${r.files.total}`,
    r.startedAt.replace("T", " ").slice(0, 19),
    r.endedAt ? r.endedAt.replace("T", " ").slice(0, 19) : "-",
    `${r.input} -> ${r.out}`,
    r.model,
  ]);
  return table(["run", "state", "files", "started (UTC)", "ended (UTC)", "input -> output", "model"], rows);
}

export function formatRunDetails(d: RunDetails): string {
  const lines = [
    `run      ${d.id}`,
    `state    ${d.status}${d.pid ? ` (pid ${d.pid})` : ""}`,
    `input    ${d.input}`,
    `output   ${d.out}`,
    `model    ${d.model}`,
    `settings ${d.settingsHash}`,
    `started  ${d.startedAt}`,
    `ended    ${d.endedAt ?? "-"}`,
    `files    ${d.files.finished}/${d.files.total} finished (${Object.entries(d.files.byStatus)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ")})`,
    `LLM      ${d.totals.calls} calls, ${d.totals.inputTokens} tokens in, ${d.totals.outputTokens} tokens out, ${fmtMs(d.totals.modelMs)} in model calls${d.totals.wallMs !== null ? `, wall ${fmtMs(d.totals.wallMs)}` : ""}`,
    "",
    table(
      ["file", "status", "reached", "patterns", "note"],
      d.fileRows.map((f) => [f.relPath, f.status, f.node ?? "-", String(f.patterns), f.reason ?? ""]),
    ),
  ];
  if (d.quarantined.length > 0) {
    lines.push("", "quarantined drafts:");
    for (const q of d.quarantined) {
      lines.push(`  ${q.name} (${q.relPath})`);
      for (const p of q.problems) lines.push(`    - ${p}`);
    }
  }
  if (d.status === "interrupted" || d.status === "failed") lines.push("", `resume with: npm run runs -- resume ${d.id}`);
  return lines.join("\n");
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => {
        const w = widths[i] ?? 10;
        return c.length > w ? `${c.slice(0, w - 1)}…` : c.padEnd(w);
      })
      .join("  ")
      .trimEnd();
  return [fmt(head), fmt(head.map((_, i) => "-".repeat(widths[i] ?? 3))), ...rows.map(fmt)].join("\n");
}

import type { UserError } from "../errors.ts";
import type { LlmCounters } from "../model/LlmService.ts";
import type { RunDatabase } from "../store/RunDatabase.ts";

/** The final `--json` line: scripts can rely on these fields. */
export interface RunSummary {
  type: "summary";
  status: "done" | "interrupted" | "failed";
  runId: string | null;
  files: { found: number; processed: number; skipped: number; quarantined: number; pending: number };
  skipped: { path: string; reason: string }[];
  quarantinedFiles: { path: string; reason: string }[];
  /** Entries in the knowledge base after this invocation. */
  patterns: number;
  /** Model calls made by this invocation (memo hits are calls finished before an interruption, not repeated). */
  llm: { calls: number; tokens: number; inputTokens: number; memoHits: number };
  wallMs: number;
  /** Command that continues this run, or null when it is done. */
  resume: string | null;
  out: string;
  error?: { code: string; message: string; hint: string | null };
}

export interface SummaryInput {
  status: RunSummary["status"];
  runId: string;
  db: RunDatabase;
  kbEntries: number;
  counters: LlmCounters;
  wallMs: number;
  resume: string | null;
  out: string;
  error?: UserError;
}

export function buildSummary(input: SummaryInput): RunSummary {
  const rows = input.db.listFiles(input.runId);
  const count = (s: string) => rows.filter((r) => r.status === s).length;
  return {
    type: "summary",
    status: input.status,
    runId: input.runId,
    files: { found: rows.length, processed: count("processed"), skipped: count("skipped"), quarantined: count("quarantined"), pending: count("pending") },
    skipped: rows.filter((r) => r.status === "skipped").map((r) => ({ path: r.relPath, reason: r.reason ?? "" })),
    quarantinedFiles: rows
      .filter((r) => r.status === "quarantined")
      .map((r) => ({ path: r.relPath, reason: r.reason ?? "every draft failed validation (see quarantine.md)" })),
    patterns: input.kbEntries,
    llm: { calls: input.counters.calls, tokens: input.counters.outputTokens, inputTokens: input.counters.inputTokens, memoHits: input.counters.memoHits },
    wallMs: input.wallMs,
    resume: input.resume,
    out: input.out,
    ...(input.error ? { error: { code: input.error.code, message: input.error.message, hint: input.error.hint ?? null } } : {}),
  };
}

/** POSIX shell quoting, so the printed command works with spaces, quotes and leading dashes. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./=:@%+-]+$/.test(s) && !s.startsWith("-")) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function resumeCommand(input: string, out: string, db: string): string {
  const dir = (p: string) => (p.startsWith("-") ? `./${p}` : p);
  return `npm run graph -- --input ${shellQuote(dir(input))} --out ${shellQuote(dir(out))} --db ${shellQuote(dir(db))} --resume`;
}

export function formatSummary(s: RunSummary): string {
  const lines: string[] = [];
  const head = s.status === "done" ? "Done." : s.status === "interrupted" ? "Interrupted — resumable." : "Failed.";
  lines.push("", `${head}${s.runId ? ` Run ${s.runId}` : ""}`);
  if (s.error) {
    lines.push(`error [${s.error.code}]: ${s.error.message}`);
    if (s.error.hint) lines.push(s.error.hint);
  }
  const f = s.files;
  lines.push(
    `files: ${f.found} found, ${f.processed} processed, ${f.skipped} skipped, ${f.quarantined} quarantined${f.pending ? `, ${f.pending} not finished` : ""}`,
  );
  for (const k of s.skipped.slice(0, 20)) lines.push(`  skipped ${k.path}: ${k.reason}`);
  if (s.skipped.length > 20) lines.push(`  … and ${s.skipped.length - 20} more skipped`);
  for (const q of s.quarantinedFiles.slice(0, 20)) lines.push(`  quarantined ${q.path}: ${q.reason}`);
  lines.push(`patterns in the knowledge base: ${s.patterns} (${s.out})`);
  lines.push(`LLM: ${s.llm.calls} calls, ${s.llm.tokens} tokens generated${s.llm.memoHits ? `, ${s.llm.memoHits} reused from before the interruption` : ""}`);
  lines.push(`wall time: ${(s.wallMs / 1000).toFixed(1)} s`);
  if (s.resume) lines.push(`resume with: ${s.resume}`);
  return lines.join("\n");
}

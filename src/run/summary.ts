import type { UserError } from "../errors.ts";
import { siteKeptMessage } from "../kb/publish/site/writeSite.ts";
import type { ExampleRef } from "../kb/types.ts";
import type { LlmCounters } from "../llm/LlmService.ts";
import { fmtMs } from "../progress/Reporter.ts";
import type { Phase, PhaseTime } from "../progress/TimeSplit.ts";
import type { RunDatabase } from "../store/RunDatabase.ts";
import { formatUnread, type UnreadFile, unreadFiles } from "./unreadFiles.ts";
import { type WeakModel, weakModelAdvice } from "./weakModelAdvice.ts";

/** The final `--json` line: scripts can rely on these fields. */
export interface RunSummary {
  type: "summary";
  status: "done" | "interrupted" | "failed";
  runId: string | null;
  /** found = processed + skipped + quarantined + unchanged + pending. `unchanged`: kept from an earlier run (ledger). */
  files: { found: number; processed: number; skipped: number; quarantined: number; unchanged: number; pending: number };
  skipped: { path: string; reason: string }[];
  quarantinedFiles: { path: string; reason: string }[];
  /** Files of the run with units a model did not read in full: which unit, which role, how and why (src/run/unreadFiles.ts); absent when the run stopped before its totals could be read. */
  unread?: UnreadFile[];
  /** Entries in the knowledge base after this invocation. */
  patterns: number;
  /** Model calls made by this invocation (memo hits are calls finished before an interruption, not repeated). */
  /** inputTokens: every prompt token; reusedInputTokens: those served from a KV cache rather than evaluated. */
  llm: { calls: number; tokens: number; inputTokens: number; reusedInputTokens: number; memoHits: number };
  wallMs: number;
  /** Command that continues this run, or null when it is done. */
  resume: string | null;
  out: string;
  error?: { code: string; message: string; hint: string | null };
  /** Code-check verdicts of the published drafts' examples, and the drafts in quarantine (whole knowledge base). */
  verification?: VerificationCounts;
  /** The static site written with `site: true` (or why it was not). */
  site?: { index: string; files: number; changed: number; kept?: string[] } | { error: string };
  /**
   * Where the run's time went, per phase: `summedMs` over its operations (model calls run side by
   * side, so sums can exceed `wallMs` of the run), `wallMs` the wall-clock time during which at least
   * one was under way, `count` the operations that ended. Phases: `waiting` model calls waiting for
   * a free sequence (server slot); `reading` calls reading their prompt (until the first generated
   * text); `generating`; `research` searches of the research providers; `codeCheck` compiling or
   * parsing examples. Absent when the run stopped before its graph started.
   */
  time?: Record<Phase, PhaseTime>;
  /**
   * Present when nearly every draft failed validation (>= 80% of this run's files quarantined, or
   * >= 80% of their drafts rejected, over at least 3 files or 5 drafts): the model is likely too weak
   * for the task; `suggestion` names the model to try and the commands.
   */
  weakModel?: WeakModel;
}

export interface VerificationCounts {
  /** Examples rustc compiled. */
  verified: number;
  /** Examples that parse but could not be compiled on their own (fragments, marked ignore). */
  parseOnly: number;
  /** Examples rustc rejected (published with the error on the page). */
  failed: number;
  /** Examples not checkable: not Rust, external crates, nightly, no rustc. */
  notCheckable: number;
  /** Examples published without a verdict (checks off, or written before checks existed). */
  unchecked: number;
  /** Drafts quarantined after the repair rounds. */
  quarantined: number;
}

/** Counts the verdicts on the published drafts' examples. */
export function countVerification(published: readonly { example: ExampleRef | null }[], quarantined: number): VerificationCounts {
  const c: VerificationCounts = { verified: 0, parseOnly: 0, failed: 0, notCheckable: 0, unchecked: 0, quarantined };
  for (const { example } of published) {
    if (!example) continue;
    const s = example.verification?.status;
    if (s === "compiles") c.verified++;
    else if (s === "parses-only") c.parseOnly++;
    else if (s === "fails") c.failed++;
    else if (s === "not-checkable") c.notCheckable++;
    else c.unchecked++;
  }
  return c;
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
  verification?: VerificationCounts;
  /** The run's time split (createServices' TimeSplit). */
  time?: Record<Phase, PhaseTime>;
  /** The writer's model and the drafts of this run's files (published and in quarantine), for the weak-model advice. */
  model?: string;
  drafts?: { published: number; rejected: number };
}

export function buildSummary(input: SummaryInput): RunSummary {
  const rows = input.db.listFiles(input.runId);
  const count = (s: string) => rows.filter((r) => r.status === s).length;
  return {
    type: "summary",
    status: input.status,
    runId: input.runId,
    files: {
      found: rows.length,
      processed: count("processed"),
      skipped: count("skipped"),
      quarantined: count("quarantined"),
      unchanged: count("unchanged"),
      pending: count("pending"),
    },
    skipped: rows.filter((r) => r.status === "skipped").map((r) => ({ path: r.relPath, reason: r.reason ?? "" })),
    quarantinedFiles: rows
      .filter((r) => r.status === "quarantined")
      .map((r) => ({ path: r.relPath, reason: r.reason ?? "every draft failed validation (see quarantine.md)" })),
    unread: unreadFiles(input.db, input.runId),
    patterns: input.kbEntries,
    llm: {
      calls: input.counters.calls,
      tokens: input.counters.outputTokens,
      inputTokens: input.counters.inputTokens,
      reusedInputTokens: input.counters.reusedInputTokens,
      memoHits: input.counters.memoHits,
    },
    wallMs: input.wallMs,
    resume: input.resume,
    out: input.out,
    ...(input.error ? { error: { code: input.error.code, message: input.error.message, hint: input.error.hint ?? null } } : {}),
    ...(input.verification ? { verification: input.verification } : {}),
    ...(input.time ? { time: input.time } : {}),
    ...weakModelField(input, count("processed"), count("quarantined")),
  };
}

function weakModelField(input: SummaryInput, processedFiles: number, quarantinedFiles: number): { weakModel?: WeakModel } {
  if (input.model === undefined) return {};
  const weak = weakModelAdvice({
    model: input.model,
    processedFiles,
    quarantinedFiles,
    publishedDrafts: input.drafts?.published ?? 0,
    rejectedDrafts: input.drafts?.rejected ?? 0,
  });
  return weak ? { weakModel: weak } : {};
}

/** The summary of a run that stopped before its totals could be read (it never started, or recording its end failed). */
export function stoppedSummary(input: {
  status: "interrupted" | "failed";
  runId: string | null;
  wallMs: number;
  resume: string | null;
  out: string;
  error?: UserError;
}): RunSummary {
  const { error } = input;
  return {
    type: "summary",
    status: input.status,
    runId: input.runId,
    files: { found: 0, processed: 0, skipped: 0, quarantined: 0, unchanged: 0, pending: 0 },
    skipped: [],
    quarantinedFiles: [],
    patterns: 0,
    llm: { calls: 0, tokens: 0, inputTokens: 0, reusedInputTokens: 0, memoHits: 0 },
    wallMs: input.wallMs,
    resume: input.resume,
    out: input.out,
    ...(error ? { error: { code: error.code, message: error.message, hint: error.hint ?? null } } : {}),
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
    `files: ${f.found} found, ${f.processed} processed, ${f.skipped} skipped, ${f.quarantined} quarantined${f.unchanged ? `, ${f.unchanged} unchanged since the last run` : ""}${f.pending ? `, ${f.pending} not finished` : ""}`,
  );
  for (const k of s.skipped.slice(0, 20)) lines.push(`  skipped ${k.path}: ${k.reason}`);
  if (s.skipped.length > 20) lines.push(`  … and ${s.skipped.length - 20} more skipped`);
  for (const q of s.quarantinedFiles.slice(0, 20)) lines.push(`  quarantined ${q.path}: ${q.reason}`);
  lines.push(...formatUnread(s.unread ?? []));
  lines.push(`patterns in the knowledge base: ${s.patterns} (${s.out})`);
  const v = s.verification;
  if (v)
    lines.push(
      `examples: ${v.verified} compile, ${v.parseOnly} parse only, ${v.failed} fail to compile, ${v.notCheckable} not checkable${v.unchecked ? `, ${v.unchecked} unchecked` : ""}; ${v.quarantined} ${v.quarantined === 1 ? "draft" : "drafts"} quarantined`,
    );
  lines.push(`LLM: ${s.llm.calls} calls, ${s.llm.tokens} tokens generated${s.llm.memoHits ? `, ${s.llm.memoHits} reused from before the interruption` : ""}`);
  if (s.llm.inputTokens > 0) lines.push(`prompt tokens: ${s.llm.inputTokens}, of which ${s.llm.reusedInputTokens} served from the KV cache`);
  lines.push(`wall time: ${(s.wallMs / 1000).toFixed(1)} s`);
  if (s.time) lines.push(...formatTimeSplit(s.time, s.wallMs, s.llm.calls));
  if (s.weakModel) lines.push(...formatWeakModel(s.weakModel));
  if (s.resume) lines.push(`resume with: ${s.resume}`);
  if (s.site) lines.push("error" in s.site ? `site not written: ${s.site.error}` : `site: ${s.site.index} (${s.site.files} files, ${s.site.changed} changed)`);
  if (s.site && !("error" in s.site) && s.site.kept?.length) lines.push(siteKeptMessage(s.site.kept));
  return lines.join("\n");
}

/** The model's own work first, then what it waited for, then the other steps. */
const SHOWN_ORDER: readonly Phase[] = ["reading", "generating", "waiting", "research", "codeCheck"];

const PHASE_WORDS: Record<Phase, string> = {
  reading: "reading prompts",
  generating: "generating",
  waiting: "waiting for a model slot",
  research: "research",
  codeCheck: "code checks",
};

/**
 * Where the time went, one line per phase that took any: the time summed over its operations and
 * the share of the run during which one was under way.
 */
function formatTimeSplit(time: Record<Phase, PhaseTime>, wallMs: number, calls: number): string[] {
  const shown = SHOWN_ORDER.filter((p) => time[p].summedMs >= 500 || time[p].wallMs >= 500);
  if (shown.length === 0) return [];
  const what = (p: Phase, n: number) =>
    p === "research"
      ? `${n} ${n === 1 ? "search" : "searches"}`
      : p === "codeCheck"
        ? `${n} ${n === 1 ? "check" : "checks"}`
        : `${n} ${n === 1 ? "call" : "calls"}`;
  const rows = shown.map((p) => {
    const t = time[p];
    const share = wallMs > 0 ? Math.min(100, Math.round((100 * t.wallMs) / wallMs)) : 0;
    return [PHASE_WORDS[p], `${fmtMs(t.summedMs)} summed over ${what(p, t.count)}`, `under way ${share}% of the run`];
  });
  const w0 = Math.max(...rows.map((r) => r[0]?.length ?? 0));
  const w1 = Math.max(...rows.map((r) => r[1]?.length ?? 0));
  return [
    `where the time went${calls > 1 ? " (model calls run side by side, so their sums can exceed the wall time)" : ""}:`,
    ...rows.map(([a, b, c]) => `  ${(a ?? "").padEnd(w0)}  ${(b ?? "").padEnd(w1)}  ${c}`),
  ];
}

/** The weak-model advice: what failed, and the model to try. */
function formatWeakModel(w: WeakModel): string[] {
  const failed =
    w.quarantinedFiles >= 0.8 * w.files && w.files > 0
      ? `${w.quarantinedFiles} of ${w.files} files were quarantined (every draft failed validation)`
      : `${w.rejectedDrafts} of ${w.drafts} drafts failed validation`;
  return [
    `warning: ${failed}: the model (${w.model}) is likely too weak for this task.`,
    `  ${w.suggestion.charAt(0).toUpperCase()}${w.suggestion.slice(1)}. Models and what they suit: docs/MODELS.md.`,
  ];
}

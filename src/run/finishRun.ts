/**
 * Phase 4 of a run: the end, whatever it was — other files stopped when one failed the run, the run's
 * status recorded, a finished run's step history compacted and its site written, and the summary built
 * and stored. The caller closes what the run opened afterwards (RunLifetime.closeAll).
 */
import path from "node:path";
import { InterruptedError, isUserError, toUserError, type UserError } from "../errors.ts";
import type { KnowledgeBase } from "../kb/KnowledgeBase.ts";
import { publishSite as publishKbSite } from "../kb/publish/publishSite.ts";
import type { EventSink } from "../progress/events.ts";
import type { RunRecord } from "./openRunRecord.ts";
import type { RunResources } from "./openRunResources.ts";
import type { RunLifetime } from "./RunLifetime.ts";
import { buildSummary, countVerification, type RunSummary } from "./summary.ts";
import type { PipelineOptions } from "./types.ts";

export interface RunOutcome {
  status: RunSummary["status"];
  error?: UserError;
}

export interface FinishContext {
  record: RunRecord;
  resources: RunResources;
  options: PipelineOptions;
  lifetime: RunLifetime;
  emit: EventSink;
  /** When the run was opened (Date.now()). */
  started: number;
}

export async function finishRun(context: FinishContext, outcome: RunOutcome): Promise<RunSummary> {
  const { record, resources, options } = context;
  const { db } = record;
  const { runId, out, input } = record.resolved;
  let { status, error } = outcome;
  if (status !== "done") await stopOtherFiles(context, status);
  // The knowledge base's totals; one that cannot be read (the full disk that failed the run) must not hide the run's own error.
  let totals: KbTotals | undefined;
  let drafts: { published: number; rejected: number } | undefined;
  try {
    totals = kbTotals(context);
    drafts = draftsOfRun(db.listFiles(runId), totals.contributions, totals.quarantinedRows);
  } catch (e) {
    if (status === "done") {
      status = "failed";
      error = toUserError(e);
    }
  }
  db.setRunStatus(runId, status, { endedAt: status === "done" ? new Date().toISOString() : null, pid: null });
  // A finished run needs no step history: keep its final state, per-file progress and call counts.
  if (status === "done" && !options.keepHistory) db.compactRun(runId);
  const site = status === "done" && options.site ? publishSite(context, input, out) : undefined;
  const summary = buildSummary({
    status,
    runId,
    db,
    kbEntries: totals?.entries ?? 0,
    verification: countVerification(totals?.contributions ?? [], totals?.quarantined ?? 0),
    counters: resources.services.deps.llm.counters,
    time: resources.services.times.totals(),
    model: resources.models.backendFor("writer").modelId,
    ...(drafts ? { drafts } : {}),
    wallMs: Date.now() - context.started,
    resume: status === "done" ? null : record.resumeHint,
    out,
    error,
  });
  if (site) summary.site = site;
  db.setRunStatus(runId, status, { summary: JSON.stringify(summary) });
  return summary;
}

/** LangGraph leaves sibling tasks running when one fails: stop them before anything is closed. */
async function stopOtherFiles(context: FinishContext, status: "interrupted" | "failed"): Promise<void> {
  context.emit({ type: "run_stopping", status });
  context.lifetime.abort(new InterruptedError("failure"));
  await context.resources.services.deps.tasks?.idle(15_000);
}

interface KbTotals {
  entries: number;
  quarantined: number;
  contributions: ReturnType<KnowledgeBase["contributions"]>;
  quarantinedRows: ReturnType<KnowledgeBase["quarantined"]>;
}

function kbTotals(context: FinishContext): KbTotals {
  const kb = context.resources.services.deps.kb(context.record.resolved.out);
  const quarantinedRows = kb.quarantined();
  const contributions = kb.contributions();
  return { entries: kb.entries().length, quarantined: quarantinedRows.length, contributions, quarantinedRows };
}

/** The static site of the finished knowledge base; a failure there costs none of the run's work. */
function publishSite(context: FinishContext, inputDir: string, out: string): RunSummary["site"] {
  try {
    const written = publishKbSite(context.resources.services.deps.kb(out), path.join(out, "site"), inputDir);
    return { index: path.join(written.dir, "index.html"), files: written.files.length, changed: written.written.length, kept: written.kept };
  } catch (e) {
    return { error: `${(e as Error).message}${isUserError(e) && e.hint ? ` ${e.hint}` : ""}` };
  }
}

/** The drafts of the files this run decided (processed or quarantined): published, and rejected (in quarantine). */
export function draftsOfRun(
  rows: readonly { relPath: string; status: string }[],
  contributions: readonly { relPath: string }[],
  quarantined: readonly { relPath: string }[],
): { published: number; rejected: number } {
  const decided = new Set(rows.filter((r) => r.status === "processed" || r.status === "quarantined").map((r) => r.relPath));
  return { published: contributions.filter((c) => decided.has(c.relPath)).length, rejected: quarantined.filter((q) => decided.has(q.relPath)).length };
}

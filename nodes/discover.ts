import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { SkippedFile } from "../src/input/scanInput.ts";
import { loadDocument, scanInput } from "../src/input/scanInput.ts";
import { type NodeDeps, runContext } from "./deps.ts";
import type { PipelineStateType } from "./state.ts";
import type { FileTask } from "./types.ts";

/**
 * discover: reads the input directory once per run. Every readable file is parsed, stored by
 * content hash and indexed for local research; unreadable, empty, binary or duplicate files are
 * reported with the reason and skipped. The list it returns (smallest file first) is
 * checkpointed, so a resumed run works on exactly the same files in the same order.
 */
export function makeDiscover(deps: Pick<NodeDeps, "db" | "events" | "ledger">) {
  return async (state: PipelineStateType, config: LangGraphRunnableConfig): Promise<Partial<PipelineStateType>> => {
    const { runId } = runContext(config);
    const scan = await scanInput(state.inputDir, { exclude: state.exclude, maxFileBytes: state.maxFileBytes });
    const skipped: SkippedFile[] = [...scan.skipped];
    const pending: { task: FileTask; bytes: number }[] = [];
    const unchanged: FileTask[] = [];
    const changedSettings = new Map<string, number>();
    let changedContent = 0;
    const ledger = state.settings ? deps.ledger(state.outDir) : undefined;
    const firstPathOf = new Map<string, string>();
    for (const s of scan.skipped) {
      deps.db.upsertFile(runId, s.relPath, { status: "skipped", reason: s.reason, node: "discover" });
      deps.events({ type: "file_skipped", path: s.relPath, reason: s.reason });
    }
    for (const file of scan.files) {
      const loaded = await loadDocument(file, state.maxFileBytes);
      let reason: string | undefined;
      if (!loaded.ok) reason = loaded.reason;
      else if (firstPathOf.has(loaded.doc.id)) reason = `same content as ${firstPathOf.get(loaded.doc.id)} (processed once)`;
      if (reason !== undefined || !loaded.ok) {
        const why = reason ?? "unreadable";
        skipped.push({ relPath: file.relPath, reason: why });
        deps.db.upsertFile(runId, file.relPath, { status: "skipped", reason: why, node: "discover" });
        deps.events({ type: "file_skipped", path: file.relPath, reason: why });
        continue;
      }
      firstPathOf.set(loaded.doc.id, file.relPath);
      for (const w of loaded.doc.warnings ?? []) deps.events({ type: "message", level: "warn", text: `${file.relPath}: ${w}` });
      deps.db.putDocument(loaded.doc, runId);
      deps.db.indexDocument(runId, loaded.doc);
      const task = { relPath: file.relPath, docId: loaded.doc.id };
      const change = ledger && state.settings && !state.force ? ledger.classify(file.relPath, loaded.doc.id, state.settings) : { kind: "new" as const };
      if (change.kind === "unchanged") {
        deps.db.upsertFile(runId, file.relPath, { docId: loaded.doc.id, status: "unchanged", node: "discover", reason: "unchanged since the last run" });
        unchanged.push(task);
        continue;
      }
      if (change.kind === "settings") for (const w of change.what) changedSettings.set(w, (changedSettings.get(w) ?? 0) + 1);
      if (change.kind === "content") changedContent++;
      deps.db.upsertFile(runId, file.relPath, { docId: loaded.doc.id, status: "pending", node: "discover" });
      pending.push({ task, bytes: file.size });
    }
    // Smallest files first: with a few files in flight, the first results come after the shortest work
    // and finished files arrive steadily (shortest-first minimises the mean time to a finished file);
    // equal sizes keep path order. The order is checkpointed with the list, so a resumed run keeps it.
    pending.sort((a, b) => a.bytes - b.bytes || compare(a.task.relPath, b.task.relPath));
    const files = pending.map((x) => x.task);
    const sizes = pending.map((x) => ({ path: x.task.relPath, bytes: x.bytes }));
    const found = scan.files.length + scan.skipped.length;
    if (unchanged.length > 0)
      deps.events({
        type: "message",
        level: "info",
        text: `${unchanged.length} files unchanged since the last run: kept as they are (--force re-processes them)`,
      });
    if (changedContent > 0) deps.events({ type: "message", level: "info", text: `${changedContent} files changed since the last run: re-processing them` });
    for (const [what, n] of changedSettings)
      deps.events({ type: "message", level: "info", text: `${what} since ${n} files were processed: re-processing them` });
    deps.events({ type: "files_discovered", found, toProcess: files.length, skipped: skipped.length, files: sizes });
    return { found, files, unchanged, skipped };
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { PipelineStateType } from "../graphs/state.ts";
import type { SkippedFile } from "../src/input/scanInput.ts";
import { loadDocument, scanInput } from "../src/input/scanInput.ts";
import { type NodeDeps, runContext } from "./deps.ts";
import type { FileTask } from "./types.ts";

/**
 * discover: reads the input directory once per run. Every readable file is parsed, stored by
 * content hash and indexed for local research; unreadable, empty, binary or duplicate files are
 * reported with the reason and skipped. The list it returns is checkpointed, so a resumed run
 * works on exactly the same files.
 */
export function makeDiscover(deps: Pick<NodeDeps, "db" | "events">) {
  return async (state: PipelineStateType, config: LangGraphRunnableConfig): Promise<Partial<PipelineStateType>> => {
    const { runId } = runContext(config);
    const scan = await scanInput(state.inputDir, { exclude: state.exclude, maxFileBytes: state.maxFileBytes });
    const skipped: SkippedFile[] = [...scan.skipped];
    const files: FileTask[] = [];
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
      deps.db.putDocument(loaded.doc);
      deps.db.indexDocument(runId, loaded.doc);
      deps.db.upsertFile(runId, file.relPath, { docId: loaded.doc.id, status: "pending", node: "discover" });
      files.push({ relPath: file.relPath, docId: loaded.doc.id });
    }
    const found = scan.files.length + scan.skipped.length;
    deps.events({ type: "files_discovered", found, toProcess: files.length, skipped: skipped.length });
    return { found, files, skipped };
  };
}

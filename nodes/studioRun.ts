import fs from "node:fs";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { PipelineGraph } from "../graphs/pipelineGraph.ts";
import type { PipelineStateType } from "../graphs/state.ts";
import { UserError } from "../src/errors.ts";
import { KnowledgeBase } from "../src/kb/KnowledgeBase.ts";
import { OutputLock } from "../src/store/OutputLock.ts";
import { confineToRoots } from "../src/studio/studioPolicy.ts";
import { runContext } from "./deps.ts";

export interface StudioRunDeps {
  /** The pipeline graph, run as this node's subgraph. */
  pipeline: PipelineGraph;
  /** The only directories a Studio run may read or write (chosen when the server started). */
  roots: readonly string[];
  /** The run database (kept out of the input, named in the lock). */
  dbPath: string;
}

/**
 * run (Studio's only node): a run started from Studio or its API reads and writes only under the
 * server's roots, takes the output directory's lock like a command-line run, and passes the
 * pipeline only the directories (never caller-chosen exclusions or settings).
 */
export function makeStudioRun(deps: StudioRunDeps) {
  return async (state: PipelineStateType, config: LangGraphRunnableConfig): Promise<Partial<PipelineStateType>> => {
    const { runId } = runContext(config);
    const inputDir = confineToRoots(state.inputDir, deps.roots, "inputDir");
    const outDir = confineToRoots(state.outDir, deps.roots, "outDir");
    if (!fs.statSync(inputDir, { throwIfNoEntry: false })?.isDirectory())
      throw new UserError("INPUT_NOT_DIRECTORY", `inputDir ${inputDir} is not a directory.`, "Give the directory of your research notes.");
    // As on the command line: a directory of someone's files is not a knowledge base (no --force-out here).
    const usable = KnowledgeBase.isUsableOutDir(outDir);
    if (!usable.ok)
      throw new UserError(
        "OUTPUT_NOT_KB",
        `outDir ${outDir} is not empty (${usable.entries.join(", ")}) and holds no knowledge base.`,
        "Give a new or empty directory, or the directory of an existing knowledge base.",
      );
    const lock = OutputLock.acquire(outDir, { runId, db: deps.dbPath });
    try {
      const db = deps.dbPath;
      return await deps.pipeline.invoke({ inputDir, outDir, exclude: [db, `${db}-wal`, `${db}-shm`, outDir], force: state.force === true }, config);
    } finally {
      lock.release();
    }
  };
}

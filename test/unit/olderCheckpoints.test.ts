/**
 * A run interrupted by a version whose graph had other node names (`finalize`, the per-file
 * `synthesizer`) is refused on resume with a sentence saying what to do; LangGraph would otherwise
 * skip the renamed steps silently. Runs interrupted by this version resume as before.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Annotation, END, Send, START, StateGraph } from "@langchain/langgraph";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { refuseOlderGraphCheckpoints } from "../../graphs/olderCheckpoints.ts";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import { isUserError } from "../../src/errors.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { runPipeline } from "../../src/run/runPipeline.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { passingAnswer, ScriptedBackend } from "../helpers/scriptedBackend.ts";

let dir: string;
let db: RunDatabase;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-oldcp-"));
  fs.mkdirSync(path.join(dir, "in"));
  fs.writeFileSync(path.join(dir, "in", "alpha.md"), "# Newtype\n\nWrap a value in a tuple struct to give it a distinct type.\n");
  fs.writeFileSync(path.join(dir, "in", "omega.md"), "# Typestate\n\nEncode states as types so invalid transitions do not compile.\n");
  db = RunDatabase.open(path.join(dir, "runs.sqlite"));
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function answer(req: BackendRequest): string {
  return passingAnswer(req, { name: "Distinct types pattern", summary: "About types." });
}

/** The pipeline as this version builds it, on the test's run database. */
function currentGraph(backend = new ScriptedBackend(answer)) {
  const services = createServices({ db, backendFor: () => backend, events: () => {} });
  return { graph: buildPipelineGraph(services.deps, { concurrency: 2, checkpointer: db.checkpointer() }), services };
}

const input = () => ({ inputDir: path.join(dir, "in"), outDir: path.join(dir, "kb"), exclude: [path.join(dir, "runs.sqlite")] });

/** The shape of the graph before the rename, node names only: discover -> processFile(extractor -> synthesizer) -> finalize. */
function olderGraph(failIn: string) {
  const Run = Annotation.Root({ files: Annotation<string[]>({ reducer: (_a, b) => b, default: () => [] }) });
  const File = Annotation.Root({ relPath: Annotation<string>() });
  const step = (name: string) => async (s: { relPath?: string }) => {
    if (name === failIn) throw new Error(`stopped in ${name} for ${s.relPath ?? "the run"}`);
    return {};
  };
  const fileGraph = new StateGraph(File)
    .addNode("extractor", step("extractor"))
    .addNode("synthesizer", step("synthesizer"))
    .addEdge(START, "extractor")
    .addEdge("extractor", "synthesizer")
    .addEdge("synthesizer", END)
    .compile();
  return new StateGraph(Run)
    .addNode("discover", async () => ({ files: ["alpha.md"] }))
    .addNode(
      "processFile",
      async (s: { relPath: string }, config) => {
        await fileGraph.invoke({ relPath: s.relPath }, config);
        return {};
      },
      { subgraphs: [fileGraph] },
    )
    .addNode("finalize", step("finalize"))
    .addEdge(START, "discover")
    .addConditionalEdges("discover", (s) => s.files.map((relPath) => new Send("processFile", { relPath })), ["processFile"])
    .addEdge("processFile", "finalize")
    .addEdge("finalize", END)
    .compile({ checkpointer: db.checkpointer() });
}

async function refusal(threadId: string): Promise<unknown> {
  const { graph, services } = currentGraph();
  try {
    await refuseOlderGraphCheckpoints(graph, { configurable: { thread_id: threadId } });
    return undefined;
  } catch (e) {
    return e;
  } finally {
    services.close();
  }
}

describe("resuming a run made by an older version", () => {
  it("is refused when the run stopped before finalize (LangGraph would end it without the synthesize step)", async () => {
    await expect(olderGraph("finalize").invoke({}, { configurable: { thread_id: "old-run" } })).rejects.toThrow(/stopped in finalize/);
    const e = await refusal("old-run");
    expect(isUserError(e) && e.code).toBe("NO_RUN_TO_RESUME");
    expect((e as Error).message).toBe(
      "Run old-run was made by an older version of rust-kb: its checkpoints name a step this version does not have (finalize), so it cannot be resumed.",
    );
    expect(isUserError(e) && e.hint).toMatch(/^Start it again without --resume/);
  });

  it("is refused when a file stopped in the per-file synthesizer step (found in the file's own checkpoints)", async () => {
    await expect(olderGraph("synthesizer").invoke({}, { configurable: { thread_id: "old-file" } })).rejects.toThrow(/stopped in synthesizer for alpha\.md/);
    const e = await refusal("old-file");
    expect(isUserError(e) && e.code).toBe("NO_RUN_TO_RESUME");
    expect((e as Error).message).toMatch(/\(synthesizer\), so it cannot be resumed\.$/);
  });
  it("through runPipeline: the resume ends failed with NO_RUN_TO_RESUME before any model call, and a new run finishes", async () => {
    const options = { input: path.join(dir, "in"), out: path.join(dir, "kb"), db: path.join(dir, "runs.sqlite"), research: ["input" as const], rustc: false };
    const broken = new ScriptedBackend(() => {
      throw new Error("llama.cpp failed during generation");
    });
    const first = await runPipeline(options, { models: { backendFor: () => broken, concurrency: 1 } });
    expect(first.status).toBe("failed");
    const runId = first.runId ?? "";
    // An older version's steps on the same run: its newest checkpoints.
    await expect(olderGraph("finalize").invoke({}, { configurable: { thread_id: runId } })).rejects.toThrow(/stopped in finalize/);

    const healthy = new ScriptedBackend(answer);
    const resumed = await runPipeline({ ...options, resume: runId }, { models: { backendFor: () => healthy, concurrency: 1 } });
    expect([resumed.status, resumed.error?.code]).toEqual(["failed", "NO_RUN_TO_RESUME"]);
    expect(resumed.error?.message).toMatch(/was made by an older version of rust-kb: .*\(finalize\)/);
    expect(healthy.requests).toEqual([]);

    const again = await runPipeline(options, { models: { backendFor: () => healthy, concurrency: 1 } });
    expect(again.status).toBe("done");
  });
});

describe("resuming a run made by this version", () => {
  it("goes ahead when it stopped before synthesize, and the resume writes the knowledge base", async () => {
    const config = { configurable: { thread_id: "new-run" }, recursionLimit: 200 };
    const first = currentGraph();
    await first.graph.invoke(input() as never, { ...config, interruptBefore: ["synthesize"] });
    first.services.close();
    expect((await first.graph.getState(config)).next).toEqual(["synthesize"]);
    expect(await refusal("new-run")).toBeUndefined();

    const again = currentGraph();
    const final = await again.graph.invoke(null, config);
    again.services.close();
    expect(final.kb?.entries).toBeGreaterThan(0);
  });

  it("goes ahead when a file stopped inside its subgraph", async () => {
    const failing = new ScriptedBackend((req) => {
      if (req.role === "writer" && (req.prompt.user.includes("omega.md") || req.prompt.system.includes("omega.md"))) throw new Error("llama.cpp failed");
      return answer(req);
    });
    const { graph, services } = currentGraph(failing);
    await expect(graph.invoke(input() as never, { configurable: { thread_id: "new-file" }, recursionLimit: 200 })).rejects.toThrow();
    services.close();
    expect(await refusal("new-file")).toBeUndefined();
  });
});

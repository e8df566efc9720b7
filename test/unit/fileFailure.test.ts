import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import { markErrorNode, toUserError } from "../../src/errors.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { createServices } from "../../src/run/createServices.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { type NodeFault, parseFaults } from "../../src/testing/faults.ts";
import { passingAnswer, ScriptedBackend } from "../helpers/scriptedBackend.ts";

const FILES: Record<string, string> = {
  "alpha.md": "# Newtype\n\nWrap a value in a tuple struct to give it a distinct type.\n",
  "poison.md": "# Builder\n\nBuild a value step by step, then call build.\n",
  "omega.md": "# Typestate\n\nEncode states as types so invalid transitions do not compile.\n",
};

let dir: string;
/** The node fault the test's runs are given (NodeDeps.nodeFault), for every run of the test. */
let nodeFault: NodeFault | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-filefail-"));
  fs.mkdirSync(path.join(dir, "in"));
  for (const [name, text] of Object.entries(FILES)) fs.writeFileSync(path.join(dir, "in", name), text);
});
afterEach(() => {
  nodeFault = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

const fileOf = (req: BackendRequest) =>
  Object.keys(FILES).find((f) => req.prompt.user.includes(`File: ${f}`) || req.prompt.system.includes(`File: ${f}`)) ?? "";

function answer(req: BackendRequest): string {
  const title = FILES[fileOf(req)]?.split("\n", 1)[0]?.slice(2) ?? "Thing";
  return passingAnswer(req, { name: `${title} pattern`, summary: `About ${title}.` });
}

async function run(threadId: string, backend: ScriptedBackend, input: unknown, events: (e: PipelineEvent) => void = () => {}) {
  const db = RunDatabase.open(path.join(dir, "runs.sqlite"));
  const services = createServices({ db, backendFor: () => backend, events, nodeFault });
  try {
    const graph = buildPipelineGraph(services.deps, { concurrency: 3, checkpointer: db.checkpointer() });
    let error: unknown;
    try {
      await graph.invoke(input as never, { configurable: { thread_id: threadId }, recursionLimit: 200 });
    } catch (e) {
      error = e;
    }
    return { error, files: db.listFiles(threadId), entries: services.deps.kb(path.join(dir, "kb")).entries().length };
  } finally {
    services.close();
    db.close();
  }
}

const input = () => ({ inputDir: path.join(dir, "in"), outDir: path.join(dir, "kb"), exclude: [path.join(dir, "runs.sqlite")] });
const row = (files: { relPath: string; status: string; reason: string | null; node: string | null }[], p: string) => files.find((f) => f.relPath === p);

describe("a failure inside one file", () => {
  it("quarantines that file with the node and the error, and the other files finish", async () => {
    nodeFault = parseFaults("node:writer:path=poison").node;
    const { error, files, entries } = await run("t1", new ScriptedBackend(answer), input());
    expect(error).toBeUndefined();
    expect(row(files, "poison.md")).toMatchObject({
      status: "quarantined",
      node: "writer",
      reason: expect.stringMatching(
        /^failed in the writer node on an unexpected error \(TypeError: injected fault in writer for poison\.md \(RUST_KB_TEST_FAULTS\)\)/,
      ),
    });
    expect(row(files, "alpha.md")?.status).toBe("processed");
    expect(row(files, "omega.md")?.status).toBe("processed");
    expect(entries).toBe(2);
  });

  it("is not repeated by a resume after the run stopped on a model failure, which is named as one", async () => {
    nodeFault = parseFaults("node:extractor:path=poison").node;
    // omega's model calls fail only once poison.md has been set aside, so the order is fixed.
    let poisonDone!: () => void;
    const poisoned = new Promise<void>((resolve) => {
      poisonDone = resolve;
    });
    const failing = new ScriptedBackend(async (req) => {
      if (fileOf(req) === "omega.md") {
        await poisoned;
        throw new Error("llama.cpp failed during generation");
      }
      return answer(req);
    });
    const first = await run("t2", failing, input(), (e) => {
      if (e.type === "file_finished" && e.path === "poison.md") poisonDone();
    });
    const stopped = toUserError(first.error);
    expect(stopped.code).toBe("MODEL_GENERATION_FAILED");
    expect(stopped.message).toMatch(/^The extractor model \(scripted@0\) failed during generation: llama\.cpp failed during generation$/);
    expect(row(first.files, "poison.md")?.status).toBe("quarantined");

    const healthy = new ScriptedBackend(answer);
    const resumed = await run("t2", healthy, null);
    expect(resumed.error).toBeUndefined();
    expect(healthy.requests.filter((r) => fileOf(r) === "poison.md")).toEqual([]);
    expect(row(resumed.files, "poison.md")?.status).toBe("quarantined");
    expect(row(resumed.files, "omega.md")?.status).toBe("processed");
    expect(row(resumed.files, "alpha.md")?.status).toBe("processed");
  });
});

describe("errors outside any one file", () => {
  it("are reported as internal errors with the node, not as model failures", () => {
    const e = toUserError(markErrorNode(new RangeError("Maximum call stack size exceeded"), "synthesize"));
    expect([e.code, e.message]).toEqual([
      "INTERNAL_ERROR",
      "The run stopped on an unexpected error in the synthesize node: RangeError: Maximum call stack size exceeded",
    ]);
  });

  it("still stop the run when they would hit every file (disk full)", () => {
    const full = Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    expect(toUserError(markErrorNode(full, "recordFile")).code).toBe("DISK_FULL");
  });
});

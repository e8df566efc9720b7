import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { answerPerPattern, patternKeys, ScriptedBackend } from "../helpers/scriptedBackend.ts";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-calls-"));
  fs.mkdirSync(path.join(dir, "in"));
  fs.writeFileSync(
    path.join(dir, "in", "three.md"),
    "# Ownership idioms\n\n## Take\n\nUse mem::take to move a value out of a mutable reference.\n\n```rust\nlet v = std::mem::take(&mut s);\n```\n\n## Replace\n\nUse mem::replace to swap in a new value and keep the old one.\n\n```rust\nlet old = std::mem::replace(&mut s, String::new());\n```\n\n## Swap\n\nUse mem::swap to exchange two values in place.\n",
  );
  fs.writeFileSync(path.join(dir, "in", "other.md"), "# Moving values\n\nTaking and replacing values keeps ownership clear in enums and structs.\n");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const draft = (example: string) => ({
  summary: "This idiom moves a value out of a mutable reference while leaving a valid value behind for the owner.",
  whenToUse: ["when a value must leave a mutable reference"],
  whenNotToUse: ["when a clone is cheap and clearer to read"],
  pitfalls: [],
  example,
  sources: [],
});

function script(failBatches: false | "unparsable" | "p2 invalid") {
  return (req: BackendRequest): string => {
    const three = req.prompt.user.startsWith("File: three.md");
    switch (req.role) {
      case "extractor":
        return JSON.stringify({
          patterns: three
            ? [
                { name: "mem::take", category: "ownership-borrowing", summary: "Move out and leave Default.", evidence: ["S2", "C1"] },
                { name: "mem::replace", category: "ownership-borrowing", summary: "Move out and put a value in.", evidence: ["S3", "C2"] },
                { name: "mem::swap", category: "ownership-borrowing", summary: "Exchange two values in place.", evidence: ["S4"] },
              ]
            : [{ name: "Moving values", category: "ownership-borrowing", summary: "Keep ownership clear.", evidence: ["S1"] }],
        });
      case "researcher":
        return answerPerPattern(req, () => ({ relevant: [], note: "" }));
      case "writer": {
        // A batch of several patterns can be made to fail: the node then asks one pattern per call.
        const batch = (patternKeys(req)?.length ?? 0) > 1;
        if (failBatches === "unparsable" && batch) return "not json";
        if (failBatches === "p2 invalid" && batch) return answerPerPattern(req, (key) => draft(key === "p3" ? "none" : "C1"));
        // p1 cites C1, p2 cites C2 (each must show its own code); p3 and other.md have none.
        return answerPerPattern(req, (key) => draft(three ? (({ p1: "C1", p2: "C2" } as Record<string, string>)[key] ?? "none") : "none"));
      }
      case "validator":
        return answerPerPattern(req, () => ({ verdict: "pass", problems: [] }));
      default:
        return JSON.stringify({ verdict: "different", reason: "scripted judgment" });
    }
  };
}

async function run(failBatches: false | "unparsable" | "p2 invalid") {
  const db = RunDatabase.open(path.join(dir, "runs.sqlite"));
  const backend = new ScriptedBackend(script(failBatches));
  const services = createServices({ db, backendFor: () => backend, events: () => {} });
  try {
    const graph = buildPipelineGraph(services.deps, { concurrency: 2, checkpointer: db.checkpointer() });
    const final = await graph.invoke(
      { inputDir: path.join(dir, "in"), outDir: path.join(dir, "kb"), exclude: [] },
      { configurable: { thread_id: "t" }, recursionLimit: 200 },
    );
    return { backend, final };
  } finally {
    services.close();
    db.close();
  }
}

const ofThree = (reqs: BackendRequest[]) => reqs.filter((r) => r.prompt.user.startsWith("File: three.md"));

describe("calls per file do not grow with the patterns in the file", () => {
  it("writes and reviews a file's three patterns in one writer call and one validator call, each prompt starting with the file", async () => {
    const { backend, final } = await run(false);
    expect(final.results.find((r) => r.relPath === "three.md")).toMatchObject({ status: "processed", quarantined: [] });
    expect(final.results.find((r) => r.relPath === "three.md")?.published).toHaveLength(3);
    const writes = ofThree(backend.callsFor("writer"));
    expect(writes).toHaveLength(1);
    expect(patternKeys(writes[0] as BackendRequest)).toEqual(["p1", "p2", "p3"]);
    expect(ofThree(backend.callsFor("validator"))).toHaveLength(1);
    expect(ofThree(backend.callsFor("extractor"))).toHaveLength(1);
    // One system prompt and the same file block open every per-file call: a prefix the KV cache keeps.
    const calls = ofThree(backend.requests);
    const head = (r: BackendRequest) => r.prompt.user.slice(0, r.prompt.user.indexOf("[S4]"));
    expect(new Set(calls.map((r) => r.prompt.system)).size).toBe(1);
    expect(new Set(calls.map(head)).size).toBe(1);
    expect(calls.every((r) => r.affinityKey === "three.md")).toBe(true);
  });

  it("falls back to one writer call per pattern when the model cannot answer the batch", async () => {
    const { backend, final } = await run("unparsable");
    expect(final.results.find((r) => r.relPath === "three.md")?.published).toHaveLength(3);
    const writes = ofThree(backend.callsFor("writer"));
    // One attempt at the batch, then one call per pattern.
    expect(writes.map((r) => patternKeys(r)?.join(","))).toEqual(["p1,p2,p3", "p1", "p2", "p3"]);
  });

  it("keeps the valid entries of a batch that failed as a whole and asks again only for the invalid one", async () => {
    const { backend, final } = await run("p2 invalid");
    expect(final.results.find((r) => r.relPath === "three.md")?.published).toHaveLength(3);
    expect(ofThree(backend.callsFor("writer")).map((r) => patternKeys(r)?.join(","))).toEqual(["p1,p2,p3", "p2"]);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import type { KbJson } from "../../src/kb/schema.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { answerPerPattern, ScriptedBackend } from "../helpers/scriptedBackend.ts";

const FILES: Record<string, { text: string; name: string; evidence: string[] }> = {
  "newtype.md": {
    text: "# Newtype\n\nWrap a value in a tuple struct to give it a distinct type.\n\n```rust\nstruct Meters(f64);\n```\n",
    name: "Newtype pattern",
    evidence: ["S1", "C1"],
  },
  "wrappers.md": { text: "# Wrappers\n\nWrapper types keep meters and feet apart at compile time.\n", name: "wrapper types for type safety", evidence: ["S1"] },
  "builder.md": { text: "# Builder\n\nBuild a value step by step, then call build (see C-BUILDER).\n", name: "Builder", evidence: ["S1"] },
  "fluent.md": { text: "# Fluent\n\nChain setters on a builder and finish with build().\n", name: "Fluent builder API", evidence: ["S1"] },
};

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-pipe-"));
  fs.mkdirSync(path.join(dir, "in"));
  for (const [name, f] of Object.entries(FILES)) fs.writeFileSync(path.join(dir, "in", name), f.text);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function script(req: BackendRequest): string {
  switch (req.role) {
    case "extractor": {
      const file = Object.keys(FILES).find((f) => req.prompt.user.includes(`File: ${f}`)) ?? "";
      const f = FILES[file];
      return JSON.stringify({ patterns: f ? [{ name: f.name, category: "type-safety", summary: `About ${f.name}.`, evidence: f.evidence }] : [] });
    }
    case "researcher":
      return answerPerPattern(req, () => ({ relevant: [], note: "" }));
    case "writer": {
      const code = /Code blocks for the example: [^\n]*C1/.test(req.prompt.user);
      return answerPerPattern(req, () => ({
        summary: "This pattern gives a value its own type so the compiler keeps distinct meanings apart in every call.",
        whenToUse: ["when two values share a representation but not a meaning"],
        whenNotToUse: ["when the wrapper adds only boilerplate"],
        pitfalls: [],
        example: code ? "C1" : "none",
        sources: [],
      }));
    }
    case "validator":
      return answerPerPattern(req, () => ({ verdict: "pass", problems: [] }));
    case "synthesizer": {
      const builders = (req.prompt.user.match(/^Entry [AB]: .*builder/gim) ?? []).length;
      return JSON.stringify({ verdict: builders === 2 ? "same" : "different", reason: "scripted judgment of the pair" });
    }
  }
  throw new Error(`unexpected role ${req.role}`);
}

async function runOnce(threadId: string, out: string, dbFile: string) {
  const db = RunDatabase.open(dbFile);
  const backend = new ScriptedBackend(script, { modelId: "scripted@1" });
  const services = createServices({ db, backendFor: () => backend, events: () => {} });
  try {
    const graph = buildPipelineGraph(services.deps, { concurrency: 4, checkpointer: db.checkpointer() });
    const final = await graph.invoke(
      { inputDir: path.join(dir, "in"), outDir: out, exclude: [] },
      { configurable: { thread_id: threadId }, recursionLimit: 200 },
    );
    return { final, backend };
  } finally {
    services.close();
    db.close();
  }
}

describe("the pipeline writes one entry per pattern", () => {
  it("merges drafts from different files by alias and by the synthesizer's judgment, and a re-run asks the synthesizer nothing", async () => {
    const out = path.join(dir, "kb");
    const { final, backend } = await runOnce("t1", out, path.join(dir, "runs.sqlite"));
    expect(final.kb).toEqual({ entries: 2, quarantined: 0 });
    expect(backend.callsFor("synthesizer")).toHaveLength(1);
    const kb = JSON.parse(fs.readFileSync(path.join(out, "kb.json"), "utf8")) as KbJson;
    expect(kb.entries.map((e) => [e.slug, e.merges.map((m) => `${m.draftId}:${m.reason}`)])).toEqual([
      ["builder", ["builder.md#builder:founder", "fluent.md#fluent-builder-api:model"]],
      ["newtype", ["newtype.md#newtype:founder", "wrappers.md#wrapper-types-for-type-safety:alias"]],
    ]);
    const newtype = kb.entries.find((e) => e.slug === "newtype");
    expect(newtype?.example?.code).toBe("struct Meters(f64);");
    expect(newtype?.sources.map((s) => s.verification)).toEqual([
      "grounding checks passed; model review passed; example not compile-checked",
      "grounding checks passed; model review passed",
    ]);
    expect(kb.entries.find((e) => e.slug === "builder")?.crossRefs.guidelines).toEqual(["C-BUILDER"]);

    // Same input, same settings, another run ID and run DB: byte-identical pages and no new pair judgment.
    const pages = fs.readFileSync(path.join(out, "patterns", "builder.md"), "utf8");
    const again = await runOnce("t2", out, path.join(dir, "runs2.sqlite"));
    expect(again.backend.callsFor("synthesizer")).toHaveLength(0);
    expect(fs.readFileSync(path.join(out, "patterns", "builder.md"), "utf8")).toBe(pages);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS, type NodeDeps } from "../../nodes/deps.ts";
import { makeSynthesize } from "../../nodes/synthesize.ts";
import { KnowledgeBase } from "../../src/kb/KnowledgeBase.ts";
import { OVERRIDES_FILE } from "../../src/kb/overridesFile.ts";
import { publishKnowledgeBase } from "../../src/kb/publish/publishKnowledgeBase.ts";
import type { Entry } from "../../src/kb/types.ts";
import { LlmService } from "../../src/llm/LlmService.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { PromptLibrary } from "../../src/prompts/PromptLibrary.ts";
import { contribution, DRAFTS, fillKb } from "../fixtures/kb/contributions.ts";
import { ScriptedBackend } from "../helpers/scriptedBackend.ts";

let dir: string;
const open: KnowledgeBase[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-merge-"));
});
afterEach(() => {
  for (const kb of open.splice(0)) kb.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function namesIn(req: BackendRequest): [string, string] {
  const a = /^Entry A: (.*)$/m.exec(req.prompt.user)?.[1] ?? "";
  const b = /^Entry B: (.*)$/m.exec(req.prompt.user)?.[1] ?? "";
  return [a, b];
}

/** The synthesizer says "same" when both names mention a builder, "different" otherwise. */
const judge = (req: BackendRequest) => {
  if (req.role !== "synthesizer") throw new Error(`unexpected role ${req.role}`);
  const [a, b] = namesIn(req);
  const same = /builder/i.test(a) && /builder/i.test(b);
  return JSON.stringify({ verdict: same ? "same" : "different", reason: same ? "both describe building a value step by step" : "different mistakes" });
};

function setup(script: (req: BackendRequest) => string = judge, out = path.join(dir, "kb")) {
  const backend = new ScriptedBackend(script, { modelId: "judge-model@1" });
  const kb = KnowledgeBase.open(out);
  open.push(kb);
  const deps: Pick<NodeDeps, "kb" | "llm" | "prompts" | "settings" | "modelIdFor"> = {
    kb: () => kb,
    llm: new LlmService({ backendFor: () => backend }),
    prompts: PromptLibrary.load(),
    settings: DEFAULT_SETTINGS,
    modelIdFor: () => backend.modelId,
  };
  const synthesize = makeSynthesize(deps);
  const files = [...new Set(DRAFTS.map((d) => d.relPath))].map((relPath) => ({ relPath, docId: `doc-${relPath}` }));
  const run = (runId = "run-1") =>
    synthesize(
      { inputDir: "/in", outDir: out, exclude: [], maxFileBytes: 1e6, found: files.length, files, skipped: [], results: [], kb: null },
      { configurable: { thread_id: runId } },
    );
  return { backend, kb, run, out };
}

const entryNamed = (kb: KnowledgeBase, name: string): Entry | undefined => kb.entries().find((e) => e.name === name);

describe("synthesis: one entry per pattern", () => {
  it("merges names and aliases without the model, and asks the model only about the bounded candidate pairs", async () => {
    const { backend, kb, run } = setup();
    fillKb(kb, DRAFTS);
    await run();
    const newtype = entryNamed(kb, "Newtype");
    expect(newtype?.merges.map((m) => [m.draftId, m.reason])).toEqual([
      ["api/type-safety.txt#newtypes-provide-static-distinctions", "founder"],
      ["notes/wrappers.md#wrapper-types-for-type-safety", "alias"],
      ["patterns/newtype.md#newtype", "alias"],
    ]);
    expect(newtype?.sources.map((s) => s.relPath)).toEqual(["api/type-safety.txt", "notes/wrappers.md", "patterns/newtype.md"]);
    expect(newtype?.aliases).toEqual(["Newtypes provide static distinctions", "wrapper types for type safety"]);
    // The alias table files it under its own category, whatever the drafts said.
    expect(newtype?.category).toBe("type-safety");
    expect(newtype?.crossRefs.guidelines).toEqual(["C-NEWTYPE"]);
    // Candidates: builder vs "Fluent builder API", unwrap vs expect. Nothing else is asked.
    const asked = backend.callsFor("synthesizer").map(namesIn);
    expect(asked).toHaveLength(2);
    expect(asked.map((p) => [...p].sort().join(" | ")).sort()).toEqual([
      "Avoid unwrap on Result | Expect with a message instead of unwrap",
      "Builders enable construction of complex values | Fluent builder API",
    ]);
    const builder = entryNamed(kb, "Builder");
    expect(builder?.merges.find((m) => m.draftId === "notes/fluent.md#fluent-builder-api")).toEqual({
      draftId: "notes/fluent.md#fluent-builder-api",
      relPath: "notes/fluent.md",
      name: "Fluent builder API",
      reason: "model",
      with: "api/type-safety.txt#builders-enable-construction-of-complex-values",
      detail: "both describe building a value step by step",
    });
    expect(entryNamed(kb, "Avoid unwrap on Result")).toBeDefined();
    expect(entryNamed(kb, "Expect with a message instead of unwrap")).toBeDefined();
    expect(kb.entries().map((e) => e.slug)).toEqual([
      "avoid-unwrap-on-result",
      "builder",
      "expect-with-a-message-instead-of-unwrap",
      "mem-take-and-mem-replace",
      "newtype",
    ]);
  });

  it("keeps the best example: the builder page shows the draft with code, not the one without", async () => {
    const { kb, run } = setup();
    fillKb(kb, DRAFTS);
    await run();
    expect(entryNamed(kb, "Builder")?.example?.relPath).toBe("patterns/builder.md");
    expect(entryNamed(kb, "Builder")?.summary).toMatch(/^Construct a complex value/);
  });

  it("caches judgments in the store: a re-run (new run ID, new process) asks the model nothing", async () => {
    const first = setup();
    fillKb(first.kb, DRAFTS);
    await first.run("run-1");
    const before = fs.readFileSync(path.join(first.out, "patterns", "builder.md"), "utf8");
    first.kb.close();
    const second = setup();
    await second.run("run-2");
    expect(second.backend.calls).toBe(0);
    expect(fs.readFileSync(path.join(second.out, "patterns", "builder.md"), "utf8")).toBe(before);
  });

  it("asks again when the judging model changes", async () => {
    const first = setup();
    fillKb(first.kb, DRAFTS);
    await first.run();
    first.kb.close();
    const backend = new ScriptedBackend(judge, { modelId: "other-model@2" });
    const kb = KnowledgeBase.open(first.out);
    open.push(kb);
    const synthesize = makeSynthesize({
      kb: () => kb,
      llm: new LlmService({ backendFor: () => backend }),
      prompts: PromptLibrary.load(),
      settings: DEFAULT_SETTINGS,
      modelIdFor: () => backend.modelId,
    });
    await synthesize(
      {
        inputDir: "/in",
        outDir: first.out,
        exclude: [],
        maxFileBytes: 1e6,
        found: 0,
        files: kb.contributions().map((c) => ({ relPath: c.relPath, docId: c.docId })),
        skipped: [],
        results: [],
        kb: null,
      },
      { configurable: { thread_id: "run-3" } },
    );
    expect(backend.callsFor("synthesizer")).toHaveLength(2);
  });

  it("bounds the pairs the model is asked about (maxMergePairs)", async () => {
    const backend = new ScriptedBackend(judge);
    const kb = KnowledgeBase.open(path.join(dir, "kb"));
    open.push(kb);
    fillKb(kb, DRAFTS);
    const synthesize = makeSynthesize({
      kb: () => kb,
      llm: new LlmService({ backendFor: () => backend }),
      prompts: PromptLibrary.load(),
      settings: { ...DEFAULT_SETTINGS, maxMergePairs: 1 },
      modelIdFor: () => backend.modelId,
    });
    await synthesize(
      {
        inputDir: "/in",
        outDir: kb.outDir,
        exclude: [],
        maxFileBytes: 1e6,
        found: 0,
        files: kb.contributions().map((c) => ({ relPath: c.relPath, docId: c.docId })),
        skipped: [],
        results: [],
        kb: null,
      },
      { configurable: { thread_id: "r" } },
    );
    // The best-scoring pair only: the builder pair (shares the word and is contained) beats unwrap/expect.
    expect(backend.callsFor("synthesizer").map(namesIn)).toEqual([["Builders enable construction of complex values", "Fluent builder API"]]);
  });

  it("treats an unusable model answer as 'different' and does not ask again next run", async () => {
    const bad = setup(() => "not json at all");
    fillKb(bad.kb, DRAFTS);
    await bad.run();
    expect(bad.backend.calls).toBe(2 * DEFAULT_SETTINGS.maxAttempts);
    expect(entryNamed(bad.kb, "Fluent builder API")).toBeDefined();
    await bad.run("run-2");
    expect(bad.backend.calls).toBe(2 * DEFAULT_SETTINGS.maxAttempts);
  });
});

describe("merges are recorded and reversible", () => {
  it("a separate override undoes an alias merge and a model merge in the next run; removing it merges again with the same IDs", async () => {
    const { kb, run, out } = setup();
    fillKb(kb, DRAFTS);
    await run();
    const newtypeId = entryNamed(kb, "Newtype")?.id;
    const builderId = entryNamed(kb, "Builder")?.id;
    fs.writeFileSync(
      path.join(out, OVERRIDES_FILE),
      JSON.stringify({
        separate: [
          ["notes/wrappers.md#wrapper-types-for-type-safety", "patterns/newtype.md#newtype"],
          ["notes/wrappers.md#wrapper-types-for-type-safety", "api/type-safety.txt#newtypes-provide-static-distinctions"],
          ["notes/fluent.md#fluent-builder-api", "patterns/builder.md#builder"],
        ],
      }),
    );
    await run("run-2");
    expect(entryNamed(kb, "Newtype")?.merges.map((m) => m.draftId)).toEqual([
      "api/type-safety.txt#newtypes-provide-static-distinctions",
      "patterns/newtype.md#newtype",
    ]);
    const wrapper = kb.entries().find((e) => e.merges.some((m) => m.draftId === "notes/wrappers.md#wrapper-types-for-type-safety"));
    expect(wrapper?.merges).toHaveLength(1);
    // Same display name as the newtype entry (the alias table), so its slug gets a suffix.
    expect(wrapper?.slug).toBe("newtype-2");
    expect(fs.existsSync(path.join(out, "patterns", "newtype-2.md"))).toBe(true);
    expect(entryNamed(kb, "Fluent builder API")?.merges).toHaveLength(1);
    // The entries that kept most of their drafts keep their IDs.
    expect(entryNamed(kb, "Newtype")?.id).toBe(newtypeId);
    expect(entryNamed(kb, "Builder")?.id).toBe(builderId);

    fs.rmSync(path.join(out, OVERRIDES_FILE));
    await run("run-3");
    expect(entryNamed(kb, "Newtype")?.merges).toHaveLength(3);
    expect(entryNamed(kb, "Newtype")?.id).toBe(newtypeId);
    expect(fs.existsSync(path.join(out, "patterns", "newtype-2.md"))).toBe(false);
  });

  it("a merge override joins drafts neither names nor the model joined", async () => {
    const { kb, run, out } = setup();
    fillKb(kb, DRAFTS);
    fs.writeFileSync(
      path.join(out, OVERRIDES_FILE),
      JSON.stringify({ merge: [["clippy/lints.json#avoid-unwrap-on-result", "idioms/mem-replace.md#mem-replace"]] }),
    );
    await run();
    const merged = kb.entries().find((e) => e.merges.some((m) => m.draftId === "idioms/mem-replace.md#mem-replace"));
    expect(merged?.merges.map((m) => m.reason).sort()).toEqual(["founder", "override"]);
  });

  it("reports override IDs that name no draft, and rejects a malformed overrides file with a hint", async () => {
    const { kb, out } = setup();
    fillKb(kb, DRAFTS);
    fs.writeFileSync(path.join(out, OVERRIDES_FILE), JSON.stringify({ separate: [["nope.md#x", "patterns/newtype.md#newtype"]] }));
    expect(publishKnowledgeBase(kb).unknownOverrideIds).toEqual(["nope.md#x"]);
    fs.writeFileSync(path.join(out, OVERRIDES_FILE), JSON.stringify({ split: [] }));
    expect(() => publishKnowledgeBase(kb)).toThrow(/not a valid overrides file/);
  });
});

describe("concurrent files", () => {
  it("writes byte-identical pages whatever order the files were stored in", async () => {
    const files = [...new Set(DRAFTS.map((d) => d.relPath))];
    const snapshots: string[] = [];
    for (const [i, order] of [files, [...files].reverse(), [...files.slice(3), ...files.slice(0, 3)]].entries()) {
      const out = path.join(dir, `kb-${i}`);
      const { kb, run } = setup(judge, out);
      // Interleave like concurrent recordFile nodes: each file's write is one transaction.
      await Promise.all(
        order.map(async (f, k) => {
          await new Promise((r) => setTimeout(r, (order.length - k) % 3));
          kb.replaceFile(f, DRAFTS.filter((d) => d.relPath === f).map(contribution), []);
        }),
      );
      await run();
      snapshots.push(snapshot(out));
    }
    expect(snapshots[1]).toBe(snapshots[0]);
    expect(snapshots[2]).toBe(snapshots[0]);
  });
});

function snapshot(out: string): string {
  const parts: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      if (name === ".kb") continue;
      const full = path.join(d, name);
      if (fs.statSync(full).isDirectory()) walk(full);
      else parts.push(`== ${path.relative(out, full)}\n${fs.readFileSync(full, "utf8")}`);
    }
  };
  walk(out);
  return parts.join("\n");
}

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBenchTool } from "../../bench/llamacpp/tools.ts";
import { type SyntheticShape, writeSyntheticGguf } from "../../src/gguf/writeSyntheticGguf.ts";
import { LlamaServerBackend } from "../../src/llm/LlamaServerBackend.ts";

/** The opt-in llama-server backend, on a tiny synthetic model. Skipped where llama.cpp's tools are not built (bash bench/llamacpp/build.sh). */
const serverBin = findBenchTool("llama-server");

const tiny: SyntheticShape = {
  name: "tiny-llama",
  mirrors: "nothing (test shape)",
  arch: "llama",
  layers: 2,
  hidden: 128,
  heads: 4,
  kvHeads: 2,
  ffn: 256,
  vocab: 4096,
  contextLength: 1024,
  ropeFreqBase: 10000,
  rmsEps: 1e-5,
  qkvBias: false,
  tiedEmbeddings: true,
};

describe.skipIf(!serverBin)("LlamaServerBackend (llama-server over loopback)", () => {
  let dir: string;
  let llama: Llama;
  let backend: LlamaServerBackend;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "server-backend-"));
    const modelPath = path.join(dir, "tiny.gguf");
    await writeSyntheticGguf({ shape: tiny, quant: "Q8_0", outPath: modelPath });
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: 1, logLevel: LlamaLogLevel.error, progressLogs: false });
    backend = await LlamaServerBackend.start(llama, {
      modelPath,
      sequences: 2,
      contextSize: 256,
      threads: 1,
      roleCaps: { writer: 1 },
      serverBin: serverBin as string,
    });
  });
  afterAll(async () => {
    await backend?.dispose();
    await llama?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("generates up to maxTokens per call, two calls in parallel on their own slots, reporting each call's start, first text and slot", async () => {
    // The live display counts agents at work from onStart: a backend that never calls it shows every role at 0.
    const seen: string[] = [];
    const call = (user: string) =>
      backend.generate({
        role: "extractor",
        prompt: { system: "s", user },
        maxTokens: 6,
        temperature: 0,
        onStart: () => seen.push(`start ${user}`),
        onFirstToken: () => seen.push(`text ${user}`),
      });
    const results = await Promise.all([call("one"), call("two")]);
    for (const r of results) {
      expect(r.outputTokens).toBeGreaterThan(0);
      expect(r.outputTokens).toBeLessThanOrEqual(6);
      expect(r.inputTokens).toBeGreaterThan(0);
    }
    expect(results.map((r) => r.sequence).sort()).toEqual([0, 1]);
    for (const user of ["one", "two"]) {
      expect(seen).toContain(`start ${user}`);
      if (results[user === "one" ? 0 : 1]?.text) expect(seen.indexOf(`start ${user}`)).toBeLessThan(seen.indexOf(`text ${user}`));
    }
    expect(backend.scheduler.stats().free).toBe(2);
  });

  it("is deterministic at temperature 0 and counts tokens with the model's vocabulary", async () => {
    const req = { role: "writer" as const, prompt: { system: "s", user: "same" }, maxTokens: 8, temperature: 0 };
    const a = await backend.generate(req);
    const b = await backend.generate(req);
    expect(a.text).toBe(b.text);
    expect(backend.countTokens("the quick brown fox")).toBeGreaterThan(0);
  });

  it("constrains output with a JSON schema", async () => {
    const r = await backend.generate({
      role: "writer",
      prompt: { system: "s", user: "json" },
      maxTokens: 60,
      temperature: 0,
      grammarSchema: { type: "object", properties: { kind: { enum: ["a", "b"] } }, required: ["kind"], additionalProperties: false },
    });
    if (r.stopReason === "eogToken") expect(["a", "b"]).toContain(JSON.parse(r.text).kind);
    else expect(r.text.trimStart().startsWith("{")).toBe(true);
    // The project's patched server reports its grammar sampling per call (the job bench reads it).
    expect(r.grammar?.checked).toBeGreaterThan(0);
    expect(r.grammar?.rejected).toBeGreaterThanOrEqual(0);
    expect(r.grammar?.rejected).toBeLessThanOrEqual(r.grammar?.checked ?? 0);
  });

  it("throws AbortError when the signal fires and frees the slot", async () => {
    const ac = new AbortController();
    const p = backend.generate({ role: "extractor", prompt: { system: "s", user: "long" }, maxTokens: 200, temperature: 0, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
    expect(backend.scheduler.stats().free).toBe(2);
  });
});

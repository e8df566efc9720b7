import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type CatalogEntry, entrySizeBytes, findEntry, findEntryByUri, loadCatalog, parseCatalog, suggestNames } from "../../src/commands/models/catalog.ts";
import { isUserError } from "../../src/errors.ts";
import { DEFAULT_MODEL } from "../../src/llm/resolveModel.ts";

const catalog = loadCatalog();

function entry(overrides: Partial<CatalogEntry> = {}): CatalogEntry {
  return {
    name: "test-model-q4_k_m",
    displayName: "Test",
    uri: "hf:user/Test-GGUF/test-q4_k_m.gguf",
    fileName: "test-q4_k_m.gguf",
    publisher: "me",
    sizeBytes: null,
    approxSizeMB: 400,
    quantization: "Q4_K_M",
    architecture: "llama",
    parameterCount: 1,
    contextLength: 2048,
    chatTemplate: "chatml",
    licence: "mit",
    roles: ["extractor"],
    sha256: null,
    outsideBudget: false,
    shape: null,
    provenance: { size: "test", sha256: null, specs: "test" },
    ...overrides,
  };
}

function problems(data: unknown): string {
  try {
    parseCatalog(data, "test");
  } catch (e) {
    if (isUserError(e) && e.code === "CONFIG_INVALID") return e.message;
    throw e;
  }
  return "";
}

describe("the repo's model catalog", () => {
  it("validates against the schema", () => {
    expect(catalog.models.length).toBeGreaterThanOrEqual(16);
  });

  it("holds the pipeline's default model under the same URI and file name", () => {
    const e = findEntryByUri(catalog, DEFAULT_MODEL.uri);
    expect(e?.name).toBe("qwen2.5-0.5b-instruct-q4_k_m");
    expect(e?.fileName).toBe(DEFAULT_MODEL.fileName);
  });

  it.each([
    ["qwen2.5-0.5b-instruct"],
    ["qwen2.5-1.5b-instruct"],
    ["llama-3.2-1b-instruct"],
    ["smollm2-360m-instruct"],
    ["smollm2-1.7b-instruct"],
    ["gemma-3-1b-it"],
    ["qwen3-0.6b"],
    ["xlam-1b-fc-r"],
  ])("covers %s in Q4_K_M and Q8_0", (family) => {
    expect(findEntry(catalog, `${family}-q4_k_m`)?.quantization).toBe("Q4_K_M");
    expect(findEntry(catalog, `${family}-q8_0`)?.quantization).toBe("Q8_0");
  });

  it("marks every size outside 300-700 MB as outside the budget", () => {
    for (const e of catalog.models) {
      const mb = (entrySizeBytes(e) ?? 0) / 1e6;
      expect(e.outsideBudget, e.name).toBe(mb < 300 || mb > 700);
    }
  });

  it("records where every sha256 came from and never invents an exact size", () => {
    for (const e of catalog.models) {
      if (e.sha256) expect(e.provenance.sha256, e.name).toMatch(/^stored file page https:\/\/huggingface\.co\//);
      expect(e.sizeBytes, e.name).toBeNull();
    }
  });

  it("finds names case-insensitively and suggests near names", () => {
    expect(findEntry(catalog, "Qwen3-0.6B-Q8_0")?.name).toBe("qwen3-0.6b-q8_0");
    expect(suggestNames(catalog, "qwen3-0.6b")).toContain("qwen3-0.6b-q4_k_m");
  });
});

describe("catalog validation", () => {
  it("accepts a minimal valid entry", () => {
    expect(problems({ version: 1, models: [entry()] })).toBe("");
  });

  it("rejects an outsideBudget flag that disagrees with the size", () => {
    expect(problems({ version: 1, models: [entry({ approxSizeMB: 800, outsideBudget: false })] })).toMatch(
      /models\.0\.outsideBudget: .*800 MB\) is outside 300-700 MB/,
    );
    expect(problems({ version: 1, models: [entry({ approxSizeMB: 250, outsideBudget: false })] })).toMatch(/outsideBudget/);
  });

  it("rejects duplicate names, bad hashes, unsourced hashes and a fileName the URI does not point at", () => {
    expect(problems({ version: 1, models: [entry(), entry()] })).toMatch(/duplicate name test-model-q4_k_m/);
    expect(problems({ version: 1, models: [entry({ sha256: "ABC" })] })).toMatch(/sha256 must be 64 lowercase hex digits/);
    expect(problems({ version: 1, models: [entry({ sha256: "a".repeat(64) })] })).toMatch(/needs a provenance/);
    expect(problems({ version: 1, models: [entry({ fileName: "other.gguf" })] })).toMatch(/fileName other.gguf is not the file the uri points at/);
  });

  it("rejects unknown roles and fields, and an empty catalog", () => {
    expect(problems({ version: 1, models: [{ ...entry(), roles: ["planner"] }] })).toMatch(/roles/);
    expect(problems({ version: 1, models: [{ ...entry(), colour: "red" }] })).toMatch(/colour|Unrecognized/i);
    expect(problems({ version: 1, models: [] })).toMatch(/models/);
  });

  it("reports a file that is not JSON as CONFIG_INVALID", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "catalog-")), "c.json");
    fs.writeFileSync(file, "{ not json");
    expect(() => loadCatalog(file)).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
  });
});

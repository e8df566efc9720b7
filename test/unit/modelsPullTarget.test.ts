import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadCatalog } from "../../src/commands/models/catalog.ts";
import { resolvePullTarget } from "../../src/commands/models/pull.ts";
import { isUserError } from "../../src/errors.ts";
import { downloadModelFile } from "../../src/llm/downloadModelFile.ts";
import { assertPlainFileName, DEFAULT_MODEL, modelDownloadUrl, modelHost } from "../../src/llm/resolveModel.ts";

const catalog = loadCatalog();

describe("pull targets", () => {
  it("turns a catalog name into its URI and keeps the entry for verification", () => {
    const t = resolvePullTarget(catalog, "llama-3.2-1b-instruct-q4_k_m");
    expect(t.spec).toBe("hf:bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf");
    expect(t.entry?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("finds the catalog entry of a catalog URI, and passes other URIs and URLs through", () => {
    expect(resolvePullTarget(catalog, DEFAULT_MODEL.uri).entry?.name).toBe("qwen2.5-0.5b-instruct-q4_k_m");
    expect(resolvePullTarget(catalog, "hf:someone/Other-GGUF/other.gguf")).toEqual({ spec: "hf:someone/Other-GGUF/other.gguf", entry: undefined });
    expect(resolvePullTarget(catalog, "http://127.0.0.1:9/x.gguf").entry).toBeUndefined();
  });

  it("refuses an unknown name with near names and where to look", () => {
    let error: unknown;
    try {
      resolvePullTarget(catalog, "qwen3-0.6b");
    } catch (e) {
      error = e;
    }
    expect(isUserError(error) && error.code).toBe("MODEL_NOT_FOUND");
    expect(isUserError(error) && error.hint).toMatch(/Did you mean qwen3-0\.6b-q4_k_m, qwen3-0\.6b-q8_0.*npm run models -- list/);
  });

  it("gives a download URL a person can use on another machine", () => {
    expect(modelDownloadUrl(DEFAULT_MODEL.uri)).toBe(DEFAULT_MODEL.url);
    expect(modelDownloadUrl("hf:u/r/dir/f.gguf#dev")).toBe("https://huggingface.co/u/r/resolve/dev/dir/f.gguf");
    expect(modelDownloadUrl("hf:u/r:Q4_K_M")).toBe("https://huggingface.co/u/r");
    expect(modelDownloadUrl("https://example.com/m.gguf")).toBe("https://example.com/m.gguf");
    expect(modelHost("http://127.0.0.1:8080/m.gguf")).toBe("http://127.0.0.1:8080");
    expect(modelHost("hf:u/r/f.gguf")).toBe("https://huggingface.co");
  });
});

describe("pull refuses names that are not plain file names", () => {
  const codeOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (e) {
      return isUserError(e) ? e.code : `not a UserError: ${String(e)}`;
    }
    return undefined;
  };

  it("refuses URL-encoded separators, dots and NUL in URIs and URLs, in any case and double-encoded", () => {
    for (const target of [
      "https://example.com/m/..%2F..%2Fevil.gguf",
      "https://example.com/m/%2e%2e%2fevil.gguf",
      "https://example.com/m/a%5Cb.gguf",
      "https://example.com/m/%2E%2E",
      "https://example.com/m/x.gguf%00.txt",
      "https://example.com/m/%252F..%252Fevil.gguf",
      "hf:user/repo/..%2Fevil.gguf",
    ])
      expect(
        codeOf(() => resolvePullTarget(catalog, target)),
        target,
      ).toBe("USAGE");
    expect(codeOf(() => resolvePullTarget(catalog, "https://example.com/m/model%20v2.gguf"))).toBeUndefined();
  });

  it("accepts only a plain base name as the file name", () => {
    for (const bad of ["", ".", "..", "../x.gguf", "a/b.gguf", "a\\b.gguf", "/etc/x.gguf", "x\u0000.gguf", "x\n.gguf", "x\u001b[31m.gguf"])
      expect(
        codeOf(() => assertPlainFileName(bad, "test")),
        JSON.stringify(bad),
      ).toBe("USAGE");
    expect(assertPlainFileName("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "test")).toBe("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf");
    expect(assertPlainFileName("..hidden.gguf", "test")).toBe("..hidden.gguf");
  });

  it("downloads nothing and creates nothing for a URL with an encoded separator", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-pull-"));
    const dir = path.join(root, "models");
    let probed = false;
    let error: unknown;
    try {
      await downloadModelFile("http://127.0.0.1:9/m/..%2F..%2Fevil.gguf", {
        directory: dir,
        probe: async () => {
          probed = true;
          return true;
        },
      });
    } catch (e) {
      error = e;
    }
    expect(isUserError(error) && error.code).toBe("USAGE");
    expect(isUserError(error) && error.message).toMatch(/%2F/);
    expect(probed).toBe(false);
    expect(fs.readdirSync(root)).toEqual([]);
    fs.rmSync(root, { recursive: true, force: true });
  });
});

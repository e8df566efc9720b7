import { describe, expect, it } from "vitest";
import { isUserError } from "../../src/errors.ts";
import { DEFAULT_MODEL, modelDownloadUrl, modelHost } from "../../src/model/resolveModel.ts";
import { loadCatalog } from "../../src/models/catalog.ts";
import { resolvePullTarget } from "../../src/models/pull.ts";

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

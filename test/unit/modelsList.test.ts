import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadCatalog } from "../../src/commands/models/catalog.ts";
import { formatList, listModels } from "../../src/commands/models/list.ts";

describe("listModels", () => {
  it("shows what is downloaded (under node-llama-cpp's file names), what is partial, and other GGUF files", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "models-list-"));
    // node-llama-cpp names hf: downloads hf_<user>_<file> when the file name starts with the repo's model name.
    fs.writeFileSync(path.join(dir, "hf_Qwen_qwen2.5-0.5b-instruct-q4_k_m.gguf"), "x".repeat(1000));
    fs.mkdirSync(path.join(dir, ".partial"));
    fs.writeFileSync(path.join(dir, ".partial", "hf_bartowski_Llama-3.2-1B-Instruct-Q4_K_M.gguf.ipull"), "y".repeat(2_000_000));
    fs.writeFileSync(path.join(dir, "my-own.gguf"), "z");
    const report = await listModels(loadCatalog(), dir);
    const byName = new Map(report.rows.map((r) => [r.entry.name, r]));
    expect(byName.get("qwen2.5-0.5b-instruct-q4_k_m")).toMatchObject({
      isDefault: true,
      status: { kind: "downloaded", path: path.join(dir, "hf_Qwen_qwen2.5-0.5b-instruct-q4_k_m.gguf"), bytes: 1000 },
    });
    expect(byName.get("llama-3.2-1b-instruct-q4_k_m")?.status).toMatchObject({ kind: "partial", bytes: 2_000_000 });
    expect(byName.get("qwen3-0.6b-q8_0")?.status).toEqual({ kind: "missing" });
    expect(report.otherFiles).toEqual([{ name: "my-own.gguf", bytes: 1 }]);
    const text = formatList(report);
    expect(text).toContain(`Models directory: ${dir}`);
    expect(text).toMatch(/qwen2\.5-0\.5b-instruct-q4_k_m \* +Q4_K_M +~491 MB +in .* downloaded \(0 MB\)/);
    expect(text).toMatch(/llama-3\.2-1b-instruct-q4_k_m +Q4_K_M +~808 MB +outside .* partial, 2 MB so far/);
    expect(text).toContain("  my-own.gguf (0 MB)");
  });
});

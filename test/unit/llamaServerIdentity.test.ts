import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { readEnv } from "../../src/config/env.ts";
import { applyOverrides, loadAgentsConfig } from "../../src/llm/agentsConfig.ts";
import { createEngineChooser } from "../../src/llm/engineChooser.ts";
import { describeLlamaServer, identifyLlamaServer } from "../../src/llm/llamaServerIdentity.ts";
import { planPool } from "../../src/llm/ModelPool.ts";
import { bundleCommit, locateLlamaCppTool, toolSearchDescription } from "../../src/util/llamaCppTools.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "server-identity-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

/** A stand-in llama-server: answers --version and --help the way llama.cpp's does, patched or as shipped. */
function fakeServer(dir: string, o: { version: string; patched: boolean }): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "llama-server");
  const help = [
    "-m, --model FNAME  model path",
    "--grammar GRAMMAR  BNF-like grammar",
    ...(o.patched ? ["--grammar-candidates N  test the N most likely tokens"] : []),
  ];
  fs.writeFileSync(
    file,
    [
      "#!/bin/sh",
      'if [ "$1" = --version ]; then',
      `  echo 'version: ${o.version}' >&2; echo 'built with cc for x86_64' >&2`,
      'elif [ "$1" = --help ]; then',
      // shell builtins only: the tests put nothing else on PATH
      ...help.map((line) => `  echo '${line}'`),
      "fi",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return file;
}

const empty = fs.mkdtempSync(path.join(tmp, "empty-"));
const pathDir = path.join(tmp, "homebrew-bin");
const unpatchedOnPath = fakeServer(pathDir, { version: "6810 (80fb11ac)", patched: false });
/** The build cache as `npm install` fills it: the binary and its build-info.json. */
const cacheRoot = path.join(tmp, "cache");
const cachedBin = fakeServer(path.join(cacheRoot, bundleCommit() ?? "no-bundle", "bin"), { version: "0.4.0-dev (build 1, commit 80fb11a)", patched: false });
fs.writeFileSync(path.join(cacheRoot, bundleCommit() ?? "no-bundle", "build-info.json"), JSON.stringify({ patches: "grammar-candidates@ab996af68afc" }));

describe("naming the llama-server a run starts", () => {
  it("a llama-server on PATH as shipped (Homebrew's) is named with its version, without the patch, and what that costs", async () => {
    vi.stubEnv("PATH", pathDir);
    const found = locateLlamaCppTool("llama-server", { cacheRoot: empty });
    expect(found).toEqual({ path: unpatchedOnPath, origin: "PATH" });
    const id = await identifyLlamaServer(unpatchedOnPath, "PATH");
    expect(id).toEqual({ path: unpatchedOnPath, origin: "PATH", version: "6810 (80fb11ac)", patched: false });
    const { name, cost } = describeLlamaServer(id);
    expect(name).toBe(`llama-server 6810 (80fb11ac) found on PATH (${unpatchedOnPath}), without the project's grammar patch`);
    expect(cost).toMatch(
      /0\.56x of its free rate under the pipeline's JSON grammar, patched 0\.98x.*`bash scripts\/buildLlamaServer\.sh` builds the patched one into the build cache, which auto prefers/,
    );
  });

  it("a patched llama-server without build-info.json is recognised by --help listing --grammar-candidates", async () => {
    const patched = fakeServer(path.join(tmp, "patched-bin"), { version: "7000 (abcdef0)", patched: true });
    const id = await identifyLlamaServer(patched, "PATH");
    expect(id.patched).toBe(true);
    expect(describeLlamaServer(id).cost).toBeUndefined();
  });

  it("the project's cached build is preferred to the one on PATH, and its build-info.json says it is patched", async () => {
    vi.stubEnv("PATH", pathDir);
    const found = locateLlamaCppTool("llama-server", { cacheRoot });
    expect(found).toEqual({ path: cachedBin, origin: "build cache" });
    // The stub's --help lists no --grammar-candidates: build-info.json decides.
    const id = await identifyLlamaServer(cachedBin, "build cache");
    expect(id).toMatchObject({ version: "0.4.0-dev (build 1, commit 80fb11a)", patched: true });
    const chosen = await createEngineChooser({ llamaServerBin: undefined, cudaLikely: false, search: { cacheRoot } })("auto");
    expect(chosen).toEqual({
      backend: "llama-server",
      reason: `llama-server 0.4.0-dev (build 1, commit 80fb11a) from the build cache (${cachedBin}), with the project's grammar patch`,
    });
  });

  it("looks in a build folder only when the caller adds it (a run adds none: the benches add bench/.build/bin)", () => {
    vi.stubEnv("PATH", empty);
    const folder = path.join(tmp, "dev-build", "bin");
    const bin = fakeServer(folder, { version: "7000 (abcdef0)", patched: true });
    expect(locateLlamaCppTool("llama-server", { cacheRoot: empty })).toBeUndefined();
    expect(locateLlamaCppTool("llama-server", { cacheRoot: empty, binDirs: [folder] })).toEqual({ path: bin, origin: "build folder" });
    expect(toolSearchDescription({ cacheRoot: empty })).not.toContain("bench");
  });

  it("auto with only the unpatched one on PATH runs it and says what that costs; nothing is probed where it would not run", async () => {
    vi.stubEnv("PATH", pathDir);
    const chosen = await createEngineChooser({ cudaLikely: false, search: { cacheRoot: empty } })("auto");
    expect(chosen.backend).toBe("llama-server");
    expect(chosen.reason).toContain("found on PATH");
    expect(chosen.reason).toContain("without the project's grammar patch");
    expect(chosen.cost).toMatch(/^llama-server without the project's grammar patch/);
    const identify = vi.fn();
    const onGpu = await createEngineChooser({ cudaLikely: true, identifyLlamaServer: identify, search: { cacheRoot: empty } })("auto");
    expect(onGpu.backend).toBe("node-llama-cpp");
    expect(identify).not.toHaveBeenCalled();
  });

  it("the run's plan carries the name and the cost line that the run prints at its start", async () => {
    const config = applyOverrides(loadAgentsConfig(), { memoryBudget: "64GB" });
    const plan = await planPool(config, {
      resolveSource: async () => "/models/default.gguf",
      readProfile: async () => ({ label: "m", weightsBytes: 2 ** 20, kvBytesPerToken: 1024, kvBytesPerSequenceFixed: 0, overheadBytes: 0, source: "manual" }),
      threads: 2,
      uvThreadpoolSize: 1,
      llamaServerBin: unpatchedOnPath,
      env: { ...readEnv(), backend: "auto" },
      cudaLikely: false,
    });
    const m = plan.models[0];
    expect(m?.backend).toBe("llama-server");
    expect(m?.backendReason).toBe(`llama-server 6810 (80fb11ac) set by RUST_KB_LLAMA_SERVER (${unpatchedOnPath}), without the project's grammar patch`);
    expect(m?.backendCost).toMatch(/0\.56x.*unset RUST_KB_LLAMA_SERVER to use it/);
  });
});

/**
 * The one module that reads the environment. Everything else receives these values as options,
 * and a per-run command-line option always beats an environment variable.
 */
import os from "node:os";
import path from "node:path";

export interface Env {
  /** `RUST_KB_MODEL`: model path or `hf:` URI used when `--model` is not given. */
  model: string | undefined;
  /** `RUST_KB_MODELS_DIR`: where downloaded models go (node-llama-cpp's standard directory otherwise). */
  modelsDir: string | undefined;
  /** `TAVILY_API_KEY`: enables internet research. */
  tavilyApiKey: string | undefined;
  /** `TAVILY_BASE_URL`: alternative Tavily endpoint (tests point it at a loopback server). */
  tavilyBaseUrl: string | undefined;
  /** `RUST_KB_THREADS`: default CPU threads for generation. */
  threads: number | undefined;
  /** `NO_COLOR`: disables ANSI colours. */
  noColor: boolean;
  /** `RUST_KB_DOCS_DIR`: overrides where the rustup documentation is looked for. */
  rustDocsDir: string | undefined;
  /** `RUST_KB_STUDIO_ORIGINS` (comma-separated): browser origins allowed besides the hosted Studio and localhost (as `npm run studio -- --allow-origin ORIGIN`). */
  studioOrigins: string[];
  /** `INIT_CWD`: the directory `npm run` was started in (npm runs scripts in the package root). */
  initCwd: string | undefined;
  /** `RUST_KB_TEST_FAULTS`: fault injection for the durability tests (src/testing/faults.ts); never set in normal use. */
  testFaults: string | undefined;
  /** `RUST_KB_OFFLINE=1`: never download anything (a missing model is an error at once). */
  offline: boolean;
  /** `RUST_KB_GPU=false` (or `cpu`): decode on the CPU even where a GPU is available. Default: auto. */
  gpu: "auto" | false;
  /** libuv's thread-pool size this process runs with (`UV_THREADPOOL_SIZE`, libuv's default 4 when unset). */
  uvThreadpoolSize: number;
  /** `RUST_KB_THREADPOOL`: how cli/threadpool.cjs chose the pool size ("<size> (<reason>)"); unset when it did not run. */
  threadpoolChoice: string | undefined;
  /** `RUST_KB_LLAMA_SERVER`: the llama-server binary for the llama-server backend (default: the build cache, then PATH). */
  llamaServerBin: string | undefined;
  /**
   * `RUST_KB_BACKEND`: the engine for models whose backend is "auto" (the default): auto,
   * node-llama-cpp (or llama), llama-server. The test helpers set node-llama-cpp so model tests keep
   * their engine whether or not a llama-server is built.
   */
  backend: string | undefined;
  /** `HOME`: used to locate rustup's toolchains. */
  home: string;
  /** Where built llama.cpp tools are cached: `${XDG_CACHE_HOME:-$HOME/.cache}/rust-kb-pipeline/llama.cpp` (src/util/llamaCppTools.ts). */
  llamaCppCache: string;
  /** `RUST_KB_SKIP_LLAMA_BUILD=1`: `npm install` does not build llama-server (scripts/installLlamaServer.ts). */
  skipLlamaBuild: boolean;
  /** `CXX`: the C++ compiler CMake will use for that build, when set. */
  cxx: string | undefined;
  /**
   * Reads the environment variable a configuration names (`apiKeyEnv`, `--api-key-env`): API keys
   * are looked up when a model server is connected and never copied into options, DB or logs.
   */
  secret: (name: string) => string | undefined;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== "" ? v.trim() : undefined;
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  const s = nonEmpty(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${s}"`);
  return n;
}

/** libuv reads UV_THREADPOOL_SIZE as an integer, clamped to 1..1024, default 4. */
function uvPoolSize(v: string | undefined): number {
  const n = Number.parseInt(v ?? "", 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 1024) : 4;
}

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  return {
    model: nonEmpty(source.RUST_KB_MODEL),
    modelsDir: nonEmpty(source.RUST_KB_MODELS_DIR),
    tavilyApiKey: nonEmpty(source.TAVILY_API_KEY),
    tavilyBaseUrl: nonEmpty(source.TAVILY_BASE_URL),
    threads: positiveInt("RUST_KB_THREADS", source.RUST_KB_THREADS),
    noColor: nonEmpty(source.NO_COLOR) !== undefined,
    rustDocsDir: nonEmpty(source.RUST_KB_DOCS_DIR),
    studioOrigins: (nonEmpty(source.RUST_KB_STUDIO_ORIGINS) ?? "")
      .split(",")
      .map((o) => o.trim())
      .filter((o) => o !== ""),
    initCwd: nonEmpty(source.INIT_CWD),
    testFaults: nonEmpty(source.RUST_KB_TEST_FAULTS),
    offline: ["1", "true", "yes"].includes((source.RUST_KB_OFFLINE ?? "").trim().toLowerCase()),
    gpu: ["false", "0", "cpu", "no"].includes((source.RUST_KB_GPU ?? "").trim().toLowerCase()) ? false : "auto",
    uvThreadpoolSize: uvPoolSize(source.UV_THREADPOOL_SIZE),
    threadpoolChoice: nonEmpty(source.RUST_KB_THREADPOOL),
    llamaServerBin: nonEmpty(source.RUST_KB_LLAMA_SERVER),
    backend: nonEmpty(source.RUST_KB_BACKEND),
    home: source.HOME ?? os.homedir(),
    llamaCppCache: path.join(nonEmpty(source.XDG_CACHE_HOME) ?? path.join(source.HOME ?? os.homedir(), ".cache"), "rust-kb-pipeline", "llama.cpp"),
    skipLlamaBuild: ["1", "true", "yes"].includes((source.RUST_KB_SKIP_LLAMA_BUILD ?? "").trim().toLowerCase()),
    cxx: nonEmpty(source.CXX),
    secret: (name) => nonEmpty(source[name]),
  };
}

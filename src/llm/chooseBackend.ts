/**
 * Which engine runs a local model file. "auto" (the default) takes llama.cpp's own llama-server
 * whenever its binary is found (src/util/llamaCppTools.ts: RUST_KB_LLAMA_SERVER, the build cache,
 * PATH), because it decodes many sequences at llama.cpp's speed (0.90x of
 * llama-batched-bench at 16 sequences against 0.68x in process: docs/bench/vs-llama-cpp.md), and
 * falls back to node-llama-cpp in this process otherwise, so a fresh machine without a build runs
 * as before, with no error. An explicit backend always wins. The search puts the project's patched
 * build (the cache `npm install` fills) before PATH, so a llama-server from elsewhere (Homebrew's)
 * runs only where none was built, and the run names it with its version and grammar patch.
 */
import fs from "node:fs";
import { describeLlamaServer, type LlamaServerIdentity } from "./llamaServerIdentity.ts";

/** The engines that run a local model file. */
export const MODEL_BACKENDS = ["node-llama-cpp", "llama-server"] as const;
export type ModelBackendKind = (typeof MODEL_BACKENDS)[number];

/** What a config or `--backend` asks for: an engine, or "auto". */
export type BackendChoice = ModelBackendKind | "auto";

export interface ChosenBackend {
  backend: ModelBackendKind;
  /** One line for the run's plan output: why this engine (and which llama-server: version, patch). */
  reason: string;
  /** One more line when the llama-server that runs is not known to carry the project's grammar patch: what that costs. */
  cost?: string;
}

export interface ChooseBackendInput {
  /** Where llama-server was found; undefined = not found. */
  serverBin: string | undefined;
  /**
   * An NVIDIA GPU is present on Linux and not switched off (RUST_KB_GPU): node-llama-cpp's prebuilt
   * uses CUDA there, while the llama-server that scripts/buildLlamaServer.sh builds is a CPU build,
   * so "auto" stays in process.
   */
  cudaLikely?: boolean;
  /** The llama-server binary named: where from, version, grammar patch (src/llm/llamaServerIdentity.ts). */
  server?: LlamaServerIdentity;
}

/** The in-process engine's reason when no llama-server was found. */
export const NO_SERVER_REASON =
  "node-llama-cpp in process (no llama-server built: `npm install` builds it once where cmake and a C++ compiler are found; `bash scripts/buildLlamaServer.sh` builds it now)";

/** Resolves a backend choice; the input is only consulted for "auto". */
export function chooseBackend(requested: BackendChoice, input: ChooseBackendInput): ChosenBackend {
  if (requested === "node-llama-cpp") return { backend: "node-llama-cpp", reason: "node-llama-cpp in process (chosen explicitly)" };
  const named = input.server ? describeLlamaServer(input.server) : undefined;
  const cost = named?.cost !== undefined ? { cost: named.cost } : {};
  if (requested === "llama-server") return { backend: "llama-server", reason: `llama-server (chosen explicitly)${named ? `: ${named.name}` : ""}`, ...cost };
  if (input.serverBin === undefined) return { backend: "node-llama-cpp", reason: NO_SERVER_REASON };
  if (input.cudaLikely)
    return {
      backend: "node-llama-cpp",
      reason: "node-llama-cpp in process (an NVIDIA GPU is present; pass --backend llama-server for a CUDA build of llama-server)",
    };
  return { backend: "llama-server", reason: named ? named.name : `llama-server (found at ${input.serverBin})`, ...cost };
}

/** Linux with an NVIDIA driver loaded (the same test cli/threadpool.cjs makes), unless the GPU is switched off. */
export function cudaLikely(gpu: "auto" | false): boolean {
  if (gpu === false || process.platform !== "linux") return false;
  try {
    return fs.existsSync("/dev/nvidiactl");
  } catch {
    return false;
  }
}

/** `--backend` values: the engines, "auto", and "llama" as a short name for the in-process engine. */
export function parseBackendChoice(value: string): BackendChoice | undefined {
  const v = value.trim();
  if (v === "llama" || v === "in-process") return "node-llama-cpp";
  if (v === "auto" || v === "node-llama-cpp" || v === "llama-server") return v;
  return undefined;
}

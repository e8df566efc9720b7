/**
 * The engine a run will use for a local model file, found the way the run finds it: the
 * llama-server binary looked up once (src/util/llamaCppTools.ts), named once (version, grammar
 * patch: src/llm/llamaServerIdentity.ts), then chooseBackend's rule. The run's plan (ModelPool)
 * and `npm run models -- plan` share it, so the plan names the engine the run will start.
 */
import fs from "node:fs";
import { type LocatedTool, locateLlamaCppTool, originOf, type ToolSearch } from "../util/llamaCppTools.ts";
import { type BackendChoice, type ChooseBackendInput, type ChosenBackend, chooseBackend } from "./chooseBackend.ts";
import { identifyLlamaServer, type LlamaServerIdentity } from "./llamaServerIdentity.ts";

/** What the rule needs, from the caller (which has read the environment: src/config/env.ts). */
export interface EngineChooserOptions {
  /** The llama-server binary: a path (RUST_KB_LLAMA_SERVER), null = none (so "auto" stays in process), undefined = the search's. */
  llamaServerBin?: string | null;
  /** Where the search looks: the build cache (`Env.llamaCppCache`), then PATH. */
  search: ToolSearch;
  /** Whether a CUDA GPU is likely (chooseBackend.ts's `cudaLikely(env.gpu)`). */
  cudaLikely: boolean;
  /** Names the llama-server found (default: identifyLlamaServer, which runs it with --version). */
  identifyLlamaServer?: (located: LocatedTool) => Promise<LlamaServerIdentity>;
}

/** `choose(requested)`, and the llama-server binary its choices found (undefined: none found, or none looked for yet). */
export type EngineChooser = ((requested: BackendChoice) => Promise<ChosenBackend>) & { serverBin(): string | undefined };

/** Returns `choose(requested)`; the binary is looked up and named at most once, and only when a choice needs it. */
export function createEngineChooser(options: EngineChooserOptions): EngineChooser {
  let located: { server: LocatedTool | undefined } | undefined;
  const locate = (): LocatedTool | undefined => {
    if (located) return located.server;
    let server: LocatedTool | undefined;
    if (options.llamaServerBin !== null) {
      const given = options.llamaServerBin;
      const found = given !== undefined ? { path: given, origin: originOf(given, options.search) } : locateLlamaCppTool("llama-server", options.search);
      server = found !== undefined && fs.existsSync(found.path) ? found : undefined;
    }
    located = { server };
    return server;
  };
  let identity: Promise<LlamaServerIdentity> | undefined;
  const identify = (server: LocatedTool) => {
    identity ??= (options.identifyLlamaServer ?? ((l: LocatedTool) => identifyLlamaServer(l.path, l.origin)))(server);
    return identity;
  };
  const choose = async (requested: BackendChoice): Promise<ChosenBackend> => {
    if (requested === "node-llama-cpp") return chooseBackend(requested, { serverBin: undefined });
    const server = locate();
    if (requested === "llama-server") return chooseBackend(requested, { serverBin: undefined, ...(server ? { server: await identify(server) } : {}) });
    const cuda = options.cudaLikely;
    // Named (version, patch) only where it is the engine that runs.
    const input: ChooseBackendInput = { serverBin: server?.path, cudaLikely: cuda, ...(server && !cuda ? { server: await identify(server) } : {}) };
    return chooseBackend(requested, input);
  };
  return Object.assign(choose, { serverBin: () => located?.server?.path });
}

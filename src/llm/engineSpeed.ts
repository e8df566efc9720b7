/**
 * What the engines were measured to give, for the sentences that say why one is chosen (the run's
 * start, `npm run models -- plan`). One place, so the figures quoted match docs/BENCHMARKS.md.
 *
 * Measured on the 2-core development VM (issue 22, idle), synthetic Qwen2.5-0.5B Q4_K_M, threads 2,
 * 16 sequences, 128 tokens, the extractor's JSON schema for "grammar".
 */
import type { ToolOrigin } from "../util/llamaCppTools.ts";

/**
 * Under the grammar, tokens/s of the project's llama-server path over node-llama-cpp in process
 * (112.0 against 56.8 tok/s; free generation: 104.7 against 87.7, i.e. 0.87x and 0.73x of
 * llama-batched-bench's 119.8).
 */
export const SERVER_OVER_IN_PROCESS_UNDER_GRAMMAR = 2.0;

/** Under the pipeline's JSON grammar, as a share of the same engine's free rate. */
export const GRAMMAR_VS_FREE = { patchedServer: 0.98, shippedServer: 0.56, inProcess: 0.65 } as const;

/** One sentence: where the figures come from. */
export const SPEED_SOURCE = "measured on the 2-core development VM, docs/BENCHMARKS.md";

/** What running llama-server without the project's grammar patch costs, and how to get the patched one. */
export function unpatchedServerCost(origin: ToolOrigin): string {
  const how =
    origin === "explicit"
      ? "`bash scripts/buildLlamaServer.sh` builds the patched one (unset RUST_KB_LLAMA_SERVER to use it)"
      : "`bash scripts/buildLlamaServer.sh` builds the patched one into the build cache, which auto prefers";
  return `without the project's grammar patch, llama.cpp as shipped ran at ${GRAMMAR_VS_FREE.shippedServer}x of its free rate under the pipeline's JSON grammar, patched ${GRAMMAR_VS_FREE.patchedServer}x (${SPEED_SOURCE}); ${how}`;
}

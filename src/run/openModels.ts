/**
 * Phase 2 of a run: resolve every model before any work (offline with no model file, nothing is
 * processed), plan sequences/context/threads under the memory budget, then load each model once
 * (or connect to the model servers). llama.cpp starts only when a model runs in this process.
 */
import path from "node:path";
import { QUIET_CONTEXT_FLOOR } from "../config/defaults.ts";
import type { Env } from "../config/env.ts";
import { openLlama } from "../llm/LlamaBackend.ts";
import { freeMemoryFor, type ModelPool, openPool, type PoolPlan, planPool } from "../llm/ModelPool.ts";
import { resolveModel } from "../llm/resolveModel.ts";
import { machineThreads, threadpoolAdvice } from "../llm/threads.ts";
import type { PipelineEvent } from "../progress/events.ts";
import type { PipelineOptions, RecordedOptions } from "./types.ts";

type Llama = Awaited<ReturnType<typeof openLlama>>;

export interface OpenedModels {
  plan: PoolPlan;
  pool: ModelPool;
  /** Whether the models loaded here run on the CPU only (llama.cpp found no GPU); undefined when nothing runs here. */
  cpuOnly?: boolean;
}

export async function openModels(
  recorded: RecordedOptions,
  options: PipelineOptions,
  env: Env,
  signal: AbortSignal,
  emit: (e: PipelineEvent) => void,
  onCleanup: (cleanup: () => Promise<void> | void) => void,
): Promise<OpenedModels> {
  const resolveSource = (source: string | null) =>
    resolveModel(source ?? recorded.model, {
      modelsDir: options.modelsDir ?? env.modelsDir,
      offline: env.offline,
      signal,
      onProgress: (p) => emit({ type: "download_progress", model: source ?? recorded.model, downloadedBytes: p.downloadedBytes, totalBytes: p.totalBytes }),
    });
  const threads = options.threads ?? env.threads ?? machineThreads();
  let llama: Llama | undefined;
  const getLlama = async (): Promise<Llama> => {
    if (llama) return llama;
    const opened = await openLlama({ maxThreads: threads, gpu: env.gpu });
    llama = opened;
    onCleanup(() => opened.dispose());
    const threadpoolNote = threadpoolAdvice(env, opened.gpu !== false);
    if (threadpoolNote) emit({ type: "message", level: "warn", text: threadpoolNote });
    return opened;
  };
  const plan = await planPool(recorded.agents, {
    uvThreadpoolSize: env.uvThreadpoolSize,
    resolveSource,
    concurrency: options.concurrency,
    threads,
    freeMemory: async () => freeMemoryFor(await getLlama()),
    // "auto" backends: llama-server when found (RUST_KB_LLAMA_SERVER first, then the build cache and PATH), RUST_KB_BACKEND overriding.
    env,
  });
  // Less context than asked, but room for every prompt whole, is no cause for a warning.
  const quiet = plan.fit.outcome === "shrunk-context" && plan.fit.contextSize >= QUIET_CONTEXT_FLOOR;
  if (plan.fit.outcome !== "fits")
    emit({ type: "message", level: quiet ? "info" : "warn", text: `memory budget (${plan.budgetSource}): ${plan.arithmetic.join("; ")}` });
  const modelName = (m: (typeof plan.models)[number]) => (m.backend === "endpoint" ? m.label : path.basename(m.path));
  for (const m of plan.models) {
    if (m.backendReason) emit({ type: "message", level: "info", text: `${modelName(m)}: ${m.backendReason}` });
    if (m.backendCost) emit({ type: "message", level: "warn", text: `${modelName(m)}: ${m.backendCost}` });
    emit({ type: "model_loading", model: modelName(m) });
  }
  const loadStart = Date.now();
  const pool = await openPool(getLlama, plan, {
    llamaServerBin: env.llamaServerBin,
    secret: env.secret,
    onMessage: (level, text) => emit({ type: "message", level, text }),
  });
  onCleanup(() => pool.dispose());
  for (const [i, m] of plan.models.entries())
    emit({
      type: "model_loaded",
      model: `${modelName(m)} (${m.roles.join(", ")})`,
      // Model servers may offer fewer slots than the plan's sequences: report what the backend got.
      sequences: (pool.backends[i] as { scheduler?: { slots: number } } | undefined)?.scheduler?.slots ?? m.sequences,
      contextSize: pool.backends[i]?.contextTokens ?? m.contextSize,
      threads: m.threads,
      ms: Date.now() - loadStart,
    });
  return { plan, pool, ...(llama ? { cpuOnly: llama.gpu === false } : {}) };
}

/**
 * The graph LangGraph Studio / the LangGraph dev server loads (langgraph.json points here). It is a
 * factory, so importing this module does nothing: the model and the run database are opened on
 * the first request and shared by later ones. The dev server supplies its own checkpointer.
 *
 * Input to a run: {"inputDir": "/abs/path/notes", "outDir": "/abs/path/kb"}; both must lie under the
 * roots the server was started with (RUST_KB_STUDIO_ROOTS, set by `npm run studio -- --root DIR`;
 * default the server's directory), and the run takes the output directory's lock (graphs/studioGraph.ts).
 */
import path from "node:path";
import type { Llama } from "node-llama-cpp";
import { buildPipelineGraph } from "../graphs/pipelineGraph.ts";
import { buildStudioGraph, type StudioGraph } from "../graphs/studioGraph.ts";
import { applyOverrides, loadAgentsConfig } from "../src/config/agentsConfig.ts";
import { readEnv } from "../src/config/env.ts";
import { openLlama } from "../src/llm/LlamaBackend.ts";
import { freeMemoryFor, openPool, planPool } from "../src/llm/ModelPool.ts";
import { DEFAULT_MODEL, resolveModel } from "../src/llm/resolveModel.ts";
import { machineThreads } from "../src/llm/threads.ts";
import { createServices } from "../src/run/createServices.ts";
import { RunDatabase } from "../src/store/RunDatabase.ts";

let pending: Promise<StudioGraph> | undefined;

/**
 * The dev server starts its API process with `--import …/langgraph-api/dist/preload.mjs`, which
 * parses the last command-line argument as JSON. node-llama-cpp checks its native binary by
 * forking a child with the same execArgv, and in that child the preload throws, so the check fails
 * ("NoBinaryFoundError"). Dropping that one flag from execArgv lets the check's child start plain.
 */
export function withoutDevServerPreload(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] ?? "";
    const next = execArgv[i + 1] ?? "";
    if (arg === "--import" && /langgraph-api\/dist\/preload\.mjs$/.test(next)) {
      i++;
      continue;
    }
    if (/^--import=.*langgraph-api\/dist\/preload\.mjs$/.test(arg)) continue;
    out.push(arg);
  }
  return out;
}

async function build(): Promise<StudioGraph> {
  process.execArgv = withoutDevServerPreload(process.execArgv);
  const env = readEnv();
  const threads = env.threads ?? machineThreads();
  // llama.cpp starts only when a model runs in this process (models with an "endpoint" in config/agents.json run on servers).
  let llama: Promise<Llama> | undefined;
  const getLlama = () => {
    llama ??= openLlama({ maxThreads: threads, gpu: env.gpu });
    return llama;
  };
  // `npm run studio -- --endpoint URL ...` hands model servers over through the environment (cli/studioServer.ts).
  const config = env.studioEndpoints?.length
    ? applyOverrides(loadAgentsConfig(), { endpoints: env.studioEndpoints, endpointModel: env.studioEndpointModel, apiKeyEnv: env.studioApiKeyEnv })
    : loadAgentsConfig();
  const plan = await planPool(config, {
    uvThreadpoolSize: env.uvThreadpoolSize,
    resolveSource: (source) => resolveModel(source ?? env.model ?? DEFAULT_MODEL.uri, { modelsDir: env.modelsDir, offline: env.offline }),
    threads,
    freeMemory: async () => freeMemoryFor(await getLlama()),
  });
  const pool = await openPool(getLlama, plan, { llamaServerBin: env.llamaServerBin, secret: env.secret });
  const dbPath = path.resolve(env.studioDb ?? "checkpoints/studio.sqlite");
  const db = RunDatabase.open(dbPath);
  const services = createServices({ db, backendFor: pool.backendFor, events: () => {} });
  const pipeline = buildPipelineGraph(services.deps, { concurrency: plan.concurrency });
  return buildStudioGraph({ pipeline, roots: env.studioRoots ?? [process.cwd()], dbPath });
}

/** Graph factory for the LangGraph dev server. */
export async function graph(): Promise<StudioGraph> {
  pending ??= build().catch((e) => {
    pending = undefined;
    throw e;
  });
  return pending;
}

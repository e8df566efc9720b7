/**
 * The engine's model side: every distinct model file loaded once, one context per model whose
 * sequence count covers the agents that use it, admitted by a memory budget before anything is
 * loaded, with the machine's threads divided between the models (or, with one libuv pool thread,
 * given to each model in turn: src/llm/threads.ts).
 */
import os from "node:os";
import path from "node:path";
import type { Env } from "../config/env.ts";
import { UserError } from "../errors.ts";
import type { LocatedTool } from "../util/llamaCppTools.ts";
import { type AgentsConfig, endpointsOf } from "./agentsConfig.ts";
import { type BackendChoice, cudaLikely, type ModelBackendKind, parseBackendChoice } from "./chooseBackend.ts";
import { endpointRoot } from "./endpointProbe.ts";
import { createEngineChooser } from "./engineChooser.ts";
import { LlamaModelBackend } from "./LlamaBackend.ts";
import { LlamaServerBackend } from "./LlamaServerBackend.ts";
import type { Llama } from "./llamaCpp.ts";
import type { LlamaServerIdentity } from "./llamaServerIdentity.ts";
import { type FitResult, fitToBudget, formatBytes, formatFitArithmetic, type ModelMemoryProfile, parseByteSize, readModelMemoryProfile } from "./memoryPlan.ts";
import { OpenAiBackend, type StructuredOutputMode } from "./OpenAiBackend.ts";
import { ROLES, type Role } from "./roles.ts";
import { divideThreads, threadsPerModel } from "./threads.ts";
import type { ModelBackend } from "./types.ts";

export interface PoolModelPlan {
  /** Config keys that name this file. */
  keys: string[];
  path: string;
  label: string;
  roles: Role[];
  /** Max concurrent calls per role on this model (agent counts, capped by --concurrency). */
  roleCaps: Partial<Record<Role, number>>;
  requestedSequences: number;
  /** Sequences after admission. */
  sequences: number;
  /** Tokens per sequence after admission (capped by the model's training context when loaded). */
  contextSize: number;
  threads: number;
  /**
   * What runs it: node-llama-cpp in this process, llama.cpp's llama-server in a child process, or
   * "endpoint": OpenAI-compatible model servers (then `endpoint` says which, and nothing is loaded here).
   */
  backend: ModelBackendKind | "endpoint";
  /** Why this engine, when "auto" picked it (whether llama-server was found), and which llama-server runs (version, grammar patch). */
  backendReason?: string;
  /** What the llama-server that runs costs when it lacks the project's grammar patch (one line). */
  backendCost?: string;
  /** The llama-server binary the plan found for it (looked up once; undefined when none was: opening says so). */
  serverBin?: string;
  endpoint?: PoolEndpointPlan;
}

/** A model served by OpenAI-compatible servers: no local file, no memory admission, no threads. */
export interface PoolEndpointPlan {
  /** Base URLs, normalised (no trailing slash or /v1). */
  urls: string[];
  /** Model name on the servers (undefined: the first one /v1/models lists). */
  model?: string;
  /** Name of the environment variable with the API key. */
  apiKeyEnv?: string;
  slots?: number;
  structuredOutput?: StructuredOutputMode;
}

export interface PoolPlan {
  models: PoolModelPlan[];
  fit: FitResult;
  /** The admission arithmetic, one line per model and a total line. */
  arithmetic: string[];
  threads: number;
  budgetBytes: number;
  /** How the budget was chosen ("80% of 21.3 GiB free RAM", "--memory-budget 6GB"). */
  budgetSource: string;
  /** Total calls in flight allowed (files in flight follow it). */
  concurrency: number;
}

/**
 * The environment's part in a plan: `backend` (RUST_KB_BACKEND: what "auto" means for this run),
 * `llamaServerBin` (RUST_KB_LLAMA_SERVER), `llamaCppCache` (where the build cache is) and `gpu`
 * (RUST_KB_GPU).
 */
export type PlanEnv = Pick<Env, "backend" | "llamaServerBin" | "llamaCppCache" | "gpu">;

export interface PlanOptions {
  /** Resolves a model source (null = the run's default model) to a local file path. */
  resolveSource: (source: string | null) => Promise<string>;
  /** --concurrency: caps every role's agents and every model's sequences. */
  concurrency?: number;
  threads: number;
  /**
   * libuv's thread-pool size of this process (default 4). With 1, decodes of different models take
   * turns and every model gets all `threads`; otherwise the threads are divided among the models.
   */
  uvThreadpoolSize?: number;
  /** Memory that can be used now (bytes); default: free RAM, or free VRAM when models go to a discrete GPU. */
  freeMemory?: () => Promise<{ bytes: number; what: string }>;
  readProfile?: (file: string, contextSize: number, sequences: number) => Promise<ModelMemoryProfile>;
  /** What the plan takes from the environment, read once by the caller (src/config/env.ts). */
  env: PlanEnv;
  /**
   * For models whose backend is "auto" or llama-server: the llama-server binary (null = none, so
   * "auto" runs in process; default: `env.llamaServerBin` when it exists, else the build cache under
   * `env.llamaCppCache`, then PATH) and whether a CUDA GPU is likely (default: cudaLikely(env.gpu)).
   */
  llamaServerBin?: string | null;
  cudaLikely?: boolean;
  /** Names the llama-server that will run: version and grammar patch (default: src/llm/llamaServerIdentity.ts, which runs it with --version). */
  identifyLlamaServer?: (located: LocatedTool) => Promise<LlamaServerIdentity>;
}

/**
 * Decides what to load before loading anything: which files, how many sequences each, at what
 * context, with how many threads. When the configuration does not fit the memory budget it shrinks
 * the context per sequence, then the sequences, down to the configured floors; beyond that it
 * refuses with the arithmetic and what to change.
 */
export async function planPool(config: AgentsConfig, options: PlanOptions): Promise<PoolPlan> {
  const totalAgents = ROLES.reduce((a, r) => a + config.roles[r].agents, 0);
  const concurrency = Math.max(1, Math.min(options.concurrency ?? totalAgents, totalAgents));
  const used = [...(await groupModels(config, options)).entries()].filter(([, g]) => g.roles.length > 0);
  const contextSize = Math.max(...used.map(([, g]) => g.contextSize));
  const remoteModels = used.filter(([, g]) => g.backend === "endpoint").map(([id, g]) => endpointModelPlan(id, g, config, concurrency));
  // Memory admission and threads concern the models loaded here only.
  const local = used.filter(([, g]) => g.backend !== "endpoint");
  if (local.length === 0) return allOnServers(remoteModels, config, contextSize, options.threads, concurrency);
  const admitted = await admitLocalModels(local, config, { contextSize, concurrency }, options);
  return { ...admitted, models: [...admitted.models, ...remoteModels], threads: options.threads, concurrency };
}

/** The models one file (or one set of model servers) serves, and how it runs. */
interface ModelGroup {
  /** Config keys that name it. */
  keys: string[];
  roles: Role[];
  contextSize: number;
  backend: ModelBackendKind | "endpoint";
  backendReason?: string;
  backendCost?: string;
  serverBin?: string;
  endpoint?: PoolEndpointPlan;
}

/**
 * The configuration's models grouped by what they load: a local file (resolved, its engine chosen)
 * or a set of model servers; each group with the roles that use it, in config order.
 */
async function groupModels(config: AgentsConfig, options: PlanOptions): Promise<Map<string, ModelGroup>> {
  const groups = new Map<string, ModelGroup>();
  // The llama-server binary is looked up and named once, and only when a model asks for "auto" or llama-server.
  const chooseEngine = createEngineChooser({
    llamaServerBin: options.llamaServerBin !== undefined ? options.llamaServerBin : options.env.llamaServerBin,
    search: { cacheRoot: options.env.llamaCppCache },
    cudaLikely: options.cudaLikely ?? cudaLikely(options.env.gpu),
    ...(options.identifyLlamaServer ? { identifyLlamaServer: options.identifyLlamaServer } : {}),
  });
  const idOfKey = new Map<string, string>();
  for (const [key, spec] of Object.entries(config.models)) {
    const endpoint = endpointPlanOf(spec);
    if (endpoint) {
      // Served by model servers: grouped by servers and model name; nothing to resolve or load.
      const id = `endpoint:${[...endpoint.urls].sort().join(" ")}#${spec.model ?? ""}`;
      idOfKey.set(key, id);
      const g = groups.get(id) ?? { keys: [], roles: [], contextSize: 0, backend: "endpoint" as const, endpoint };
      g.keys.push(key);
      g.contextSize = Math.max(g.contextSize, spec.contextSize);
      groups.set(id, g);
      continue;
    }
    const file = path.resolve(await options.resolveSource(spec.source));
    idOfKey.set(key, file);
    // RUST_KB_BACKEND stands in for "auto".
    const requested = spec.backend === "auto" ? defaultBackend(options.env.backend) : spec.backend;
    const chosen = await chooseEngine(requested);
    const serverBin = chosen.backend === "llama-server" ? chooseEngine.serverBin() : undefined;
    // The reason is reported for engines picked automatically, and for every llama-server (which binary runs).
    const g = groups.get(file) ?? {
      keys: [],
      roles: [],
      contextSize: 0,
      backend: chosen.backend,
      ...(requested === "auto" || chosen.backend === "llama-server" ? { backendReason: chosen.reason } : {}),
      ...(chosen.cost !== undefined ? { backendCost: chosen.cost } : {}),
      ...(serverBin !== undefined ? { serverBin } : {}),
    };
    if (g.backend !== chosen.backend)
      throw new UserError(
        "CONFIG_INVALID",
        `models "${g.keys[0]}" and "${key}" name the same file ${file} with different backends (${g.backend}, ${chosen.backend}); a file is loaded once.`,
        'Give both the same "backend".',
      );
    g.keys.push(key);
    g.contextSize = Math.max(g.contextSize, spec.contextSize);
    groups.set(file, g);
  }
  for (const role of ROLES) {
    const id = idOfKey.get(config.roles[role].model);
    if (id) groups.get(id)?.roles.push(role);
  }
  return groups;
}

/** What "auto" means for this run: RUST_KB_BACKEND when set, else auto. */
function defaultBackend(raw: string | undefined): BackendChoice {
  if (raw === undefined) return "auto";
  const choice = parseBackendChoice(raw);
  if (choice === undefined)
    throw new UserError("CONFIG_INVALID", `RUST_KB_BACKEND is "${raw}".`, "Set it to auto, node-llama-cpp (or llama) or llama-server, or unset it.");
  return choice;
}

/** The model servers a model names (base URLs normalised), or undefined for a local file. */
function endpointPlanOf(spec: AgentsConfig["models"][string]): PoolEndpointPlan | undefined {
  const urls = endpointsOf(spec);
  if (urls.length === 0) return undefined;
  return {
    urls: [...new Set(urls.map(endpointRoot))],
    ...(spec.model !== undefined ? { model: spec.model } : {}),
    ...(spec.apiKeyEnv !== undefined ? { apiKeyEnv: spec.apiKeyEnv } : {}),
    ...(spec.slots !== undefined ? { slots: spec.slots } : {}),
    ...(spec.structuredOutput !== undefined ? { structuredOutput: spec.structuredOutput } : {}),
  };
}

/** Max concurrent calls per role on a model: the roles' agent counts, capped by --concurrency. */
function roleCapsOf(g: ModelGroup, config: AgentsConfig, concurrency: number): Partial<Record<Role, number>> {
  return Object.fromEntries(g.roles.map((r) => [r, Math.min(config.roles[r].agents, concurrency)])) as Partial<Record<Role, number>>;
}

/** Sequences a model is asked for: its roles' caps together, at most --concurrency. */
function requestedSequences(caps: Partial<Record<Role, number>>, concurrency: number): number {
  return Math.min(
    concurrency,
    Object.values(caps).reduce((a, b) => a + (b ?? 0), 0),
  );
}

/** A model on model servers: its sequences as asked (the servers' slots limit them, not this process's memory). */
function endpointModelPlan(id: string, g: ModelGroup, config: AgentsConfig, concurrency: number): PoolModelPlan {
  const roleCaps = roleCapsOf(g, config, concurrency);
  const n = requestedSequences(roleCaps, concurrency);
  return {
    keys: g.keys,
    path: id,
    label: `model server ${g.endpoint?.urls.join(", ")}${g.endpoint?.model ? ` (${g.endpoint.model})` : ""}`,
    roles: g.roles,
    roleCaps,
    requestedSequences: n,
    sequences: n,
    contextSize: g.contextSize,
    threads: 0,
    backend: "endpoint",
    ...(g.endpoint ? { endpoint: g.endpoint } : {}),
  };
}

/** Every model is on a server: nothing to admit, no free-memory probe (no llama.cpp started here). */
function allOnServers(models: PoolModelPlan[], config: AgentsConfig, contextSize: number, threads: number, concurrency: number): PoolPlan {
  const fit: FitResult = {
    outcome: "fits",
    fits: true,
    requestedContextSize: contextSize,
    contextSize,
    models: [],
    modelsBytes: 0,
    reserveBytes: 0,
    totalBytes: 0,
    budgetBytes: 0,
    minContextSize: config.memory.minContextSize,
    minSequences: config.memory.minSequences,
  };
  return {
    models,
    fit,
    arithmetic: ["no model is loaded in this process: every role runs on a model server"],
    threads,
    budgetBytes: 0,
    budgetSource: "none needed",
    concurrency,
  };
}

/**
 * The models loaded here, admitted by the memory budget (context per sequence, then sequences,
 * shrunk down to the floors, else refused) and given their threads.
 */
async function admitLocalModels(
  groups: [string, ModelGroup][],
  config: AgentsConfig,
  asked: { contextSize: number; concurrency: number },
  options: PlanOptions,
): Promise<Pick<PoolPlan, "models" | "fit" | "arithmetic" | "budgetBytes" | "budgetSource">> {
  const caps = groups.map(([, g]) => roleCapsOf(g, config, asked.concurrency));
  const requested = caps.map((c) => requestedSequences(c, asked.concurrency));
  const read = options.readProfile ?? ((file: string, ctx: number, seqs: number) => readModelMemoryProfile(file, { contextSize: ctx, sequences: seqs }));
  const profiles = await Promise.all(groups.map(([file], i) => read(file, asked.contextSize, requested[i] ?? 1)));
  const { budgetBytes, budgetSource } = await memoryBudget(config, options);
  const fit = fitToBudget(
    profiles.map((profile, i) => ({ profile, sequences: requested[i] ?? 1 })),
    {
      budgetBytes,
      contextSize: asked.contextSize,
      reserveBytes: parseByteSize(config.memory.reserve) ?? 0,
      minContextSize: config.memory.minContextSize,
      minSequences: config.memory.minSequences,
    },
  );
  const arithmetic = formatFitArithmetic(fit);
  if (!fit.fits) {
    throw new UserError(
      "MEMORY_BUDGET",
      `The agents configuration does not fit the memory budget (${budgetSource}):\n  ${arithmetic.join("\n  ")}`,
      "Use fewer agents (--agents extractor=4,... or --concurrency N), a smaller --context-size, a smaller or more quantized model, or raise --memory-budget if you know the memory is there.",
    );
  }
  const sequences = fit.models.map((m) => m.sequences);
  // A llama-server child decodes outside this process's libuv pool, so with one in the mix the
  // models can decode at the same time and the threads are divided.
  const anyServer = groups.some(([, g]) => g.backend === "llama-server");
  const threads = anyServer ? divideThreads(options.threads, sequences) : threadsPerModel(options.threads, sequences, options.uvThreadpoolSize ?? 4);
  const models: PoolModelPlan[] = groups.map(([file, g], i) => ({
    keys: g.keys,
    path: file,
    label: profiles[i]?.label ?? path.basename(file),
    roles: g.roles,
    roleCaps: caps[i] ?? {},
    requestedSequences: requested[i] ?? 1,
    sequences: sequences[i] ?? 1,
    contextSize: fit.models[i]?.contextSize ?? asked.contextSize,
    threads: threads[i] ?? 1,
    backend: g.backend,
    ...(g.backendReason !== undefined ? { backendReason: g.backendReason } : {}),
    ...(g.backendCost !== undefined ? { backendCost: g.backendCost } : {}),
    ...(g.serverBin !== undefined ? { serverBin: g.serverBin } : {}),
  }));
  return { models, fit, arithmetic, budgetBytes, budgetSource };
}

/** The memory budget: a share of the memory free now ("auto"), or the size the configuration gives. */
async function memoryBudget(config: AgentsConfig, options: Pick<PlanOptions, "freeMemory">): Promise<{ budgetBytes: number; budgetSource: string }> {
  if (config.memory.budget === "auto") {
    const free = options.freeMemory ? await options.freeMemory() : { bytes: os.freemem(), what: "free RAM" };
    return {
      budgetBytes: Math.floor(free.bytes * config.memory.share),
      budgetSource: `${Math.round(config.memory.share * 100)}% of ${formatBytes(free.bytes)} ${free.what}`,
    };
  }
  const parsed = parseByteSize(config.memory.budget);
  if (parsed === undefined) throw new UserError("CONFIG_INVALID", `memory budget "${config.memory.budget}" is not a size`, 'Use a size such as "6GB".');
  return { budgetBytes: parsed, budgetSource: `budget ${config.memory.budget}` };
}

async function connectEndpoint(m: PoolModelPlan, e: PoolEndpointPlan, options: OpenPoolOptions): Promise<OpenAiBackend> {
  let apiKey: string | undefined;
  if (e.apiKeyEnv !== undefined) {
    apiKey = options.secret?.(e.apiKeyEnv);
    if (apiKey === undefined || apiKey === "")
      throw new UserError(
        "CONFIG_INVALID",
        `The environment variable ${e.apiKeyEnv} (named by --api-key-env / apiKeyEnv) is not set.`,
        `Export it with the server's API key (export ${e.apiKeyEnv}=...), or drop --api-key-env for a server without a key.`,
      );
  }
  return await OpenAiBackend.connect({
    endpoints: e.urls,
    ...(e.model !== undefined ? { model: e.model } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(e.slots !== undefined ? { slots: e.slots } : {}),
    ...(e.structuredOutput !== undefined ? { structuredOutput: e.structuredOutput } : {}),
    ...(options.onMessage ? { onMessage: options.onMessage } : {}),
    contextSize: m.contextSize,
    roleCaps: m.roleCaps,
    maxConcurrent: m.sequences,
  });
}

/** Free memory for the budget: VRAM when a discrete GPU will hold the models, else RAM. */
export async function freeMemoryFor(llama: Llama): Promise<{ bytes: number; what: string }> {
  if (llama.gpu !== false) {
    const vram = await llama.getVramState();
    if (vram.unifiedSize === 0 && vram.free > 0) return { bytes: vram.free, what: `free VRAM (${llama.gpu})` };
  }
  return { bytes: os.freemem(), what: "free RAM" };
}

/** A loaded model of the pool, whichever backend runs it. */
export type PoolBackend = ModelBackend & { readonly contextTokens: number; dispose(): Promise<void> };

export interface ModelPool {
  plan: PoolPlan;
  backends: PoolBackend[];
  backendFor(role: Role): ModelBackend;
  dispose(): Promise<void>;
}

export interface OpenPoolOptions {
  /** The llama-server binary for llama-server models (RUST_KB_LLAMA_SERVER; default: the one the plan found). */
  llamaServerBin?: string;
  /** Looks up an environment variable (the API key a model's `apiKeyEnv` names); only read, never stored. */
  secret?: (name: string) => string | undefined;
  /** Notices from model servers (one taken out, back again). */
  onMessage?: (level: "warn" | "info", text: string) => void;
}

/**
 * Loads every planned model once and maps each role to its model's backend. `llama` may be a
 * function: it is then called only when a model runs in this process (a run whose models are all
 * on model servers never starts llama.cpp).
 */
export async function openPool(llama: Llama | (() => Promise<Llama>), plan: PoolPlan, options: OpenPoolOptions = {}): Promise<ModelPool> {
  const backends: PoolBackend[] = [];
  const byRole = new Map<Role, PoolBackend>();
  const getLlama = typeof llama === "function" ? llama : async () => llama;
  try {
    for (const m of plan.models) {
      const common = { modelPath: m.path, sequences: m.sequences, contextSize: m.contextSize, threads: m.threads, roleCaps: m.roleCaps };
      const backend: PoolBackend =
        m.backend === "endpoint" && m.endpoint
          ? await connectEndpoint(m, m.endpoint, options)
          : m.backend === "llama-server"
            ? await LlamaServerBackend.start(await getLlama(), { ...common, serverBin: options.llamaServerBin ?? m.serverBin })
            : await LlamaModelBackend.load(await getLlama(), common);
      backends.push(backend);
      for (const r of m.roles) byRole.set(r, backend);
    }
  } catch (e) {
    for (const b of backends) await b.dispose().catch(() => {});
    throw e;
  }
  return {
    plan,
    backends,
    backendFor: (role) => {
      const b = byRole.get(role);
      if (!b) throw new Error(`no model serves role ${role}`);
      return b;
    },
    dispose: async () => {
      for (const b of backends) await b.dispose();
    },
  };
}

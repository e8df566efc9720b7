/**
 * Agents as configuration: which model each role runs on and how many agents (parallel
 * sequences) it gets. The file is data (config/agents.json), validated here with zod; a run can
 * override any part from the command line.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { DEFAULT_CONTEXT_SIZE } from "../config/defaults.ts";
import { UserError } from "../errors.ts";
import { MODEL_BACKENDS, parseBackendChoice } from "./chooseBackend.ts";
import { DEFAULT_MEMORY_RESERVE, DEFAULT_MEMORY_SHARE, DEFAULT_MIN_CONTEXT_SIZE, DEFAULT_MIN_SEQUENCES } from "./memoryPlan.ts";
import { ROLES, type Role } from "./roles.ts";

export const DEFAULT_AGENTS_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../config/agents.json");

const byteSize = z.string().regex(/^\s*\d+(\.\d+)?\s*([kmgt]i?b?|b)?\s*$/i, 'a size such as "256MB" or "24GB"');

/** An http(s) base URL without credentials (keys come from `apiKeyEnv`, never from the URL). */
const endpointUrl = z.string().superRefine((u, ctx) => {
  const problem = endpointUrlProblem(u);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Why a string is not a usable endpoint URL, or undefined when it is. */
function endpointUrlProblem(u: string): string | undefined {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return `"${u}" is not a URL (expected e.g. http://127.0.0.1:8080)`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `"${u}" is not an http(s) URL`;
  if (url.username !== "" || url.password !== "")
    return "an endpoint URL must not carry credentials: put the key in an environment variable and name it with apiKeyEnv / --api-key-env";
  if (url.search !== "" || url.hash !== "") return `"${u}" has a query or fragment; give the server's base URL`;
  return undefined;
}

const modelSpec = z
  .object({
    /** GGUF path or hf:/https: URI; null = the run's --model (else RUST_KB_MODEL, else the default model). */
    source: z.string().min(1).nullable().default(null),
    /** Tokens per sequence. */
    contextSize: z.number().int().min(256).max(1_048_576).default(DEFAULT_CONTEXT_SIZE),
    /**
     * What runs the model: "llama-server", llama.cpp's own server in a child process on loopback
     * (built once by `bash scripts/buildLlamaServer.sh`; faster with many sequences: docs/PROFILE.md),
     * or "node-llama-cpp" in this process. "auto" (default): llama-server when its binary is found,
     * else node-llama-cpp (src/llm/chooseBackend.ts).
     */
    backend: z.enum(["auto", ...MODEL_BACKENDS]).default("auto"),
    /**
     * An OpenAI-compatible model server (Ollama, LM Studio, llama-server, vLLM) serves this model
     * instead of a local file: its base URL, or several URLs serving the same model (calls spread
     * over them, and move to another when one fails). `source` and `backend` are then unused.
     */
    endpoint: z.union([endpointUrl, z.array(endpointUrl).min(1).max(64)]).optional(),
    /** The model name the server knows (`model` of /v1/chat/completions); default: the only or first one /v1/models lists. */
    model: z.string().min(1).max(500).optional(),
    /** Name of the environment variable holding the API key (the key itself is never written in config, DB or logs). */
    apiKeyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name")
      .optional(),
    /** Concurrent calls per endpoint when the server does not report its slots (llama-server's /props does); default 4. */
    slots: z.number().int().min(1).max(1024).optional(),
    /**
     * How structured output is obtained: "json_schema" (default: the server constrains decoding with
     * `response_format: {type: "json_schema"}`, checked by a probe at start) or "prompted" (opt-in, for
     * servers that cannot constrain: the schema goes into the prompt and only the parse checks it).
     */
    structuredOutput: z.enum(["json_schema", "prompted"]).optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.endpoint !== undefined) return;
    for (const key of ["model", "apiKeyEnv", "slots", "structuredOutput"] as const)
      if (m[key] !== undefined) ctx.addIssue({ code: "custom", path: [key], message: `"${key}" applies only to a model with an "endpoint"` });
  });

/** The endpoint URLs of a model spec, as a list (empty for a local model). */
export function endpointsOf(spec: { endpoint?: string | string[] | undefined }): string[] {
  return spec.endpoint === undefined ? [] : Array.isArray(spec.endpoint) ? spec.endpoint : [spec.endpoint];
}

const roleSpec = z
  .object({
    /** Key in `models`. */
    model: z.string().min(1),
    /** Agents (parallel sequences) this role may use at once. */
    agents: z.number().int().min(1).max(512),
  })
  .strict();

export const agentsConfigSchema = z
  .object({
    $comment: z.string().optional(),
    $schema: z.string().optional(),
    models: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, "model keys are letters, digits, _ . -"), modelSpec),
    roles: z.object(Object.fromEntries(ROLES.map((r) => [r, roleSpec])) as Record<Role, typeof roleSpec>).strict(),
    memory: z
      .object({
        /** "auto" = `share` of the memory free when the run starts, else a size. */
        budget: z.union([z.literal("auto"), byteSize]).default("auto"),
        share: z.number().min(0.05).max(1).default(DEFAULT_MEMORY_SHARE),
        /** Kept free for the process itself (runtime, graph, buffers outside llama.cpp). */
        reserve: byteSize.default(DEFAULT_MEMORY_RESERVE),
        minContextSize: z.number().int().min(256).default(DEFAULT_MIN_CONTEXT_SIZE),
        minSequences: z.number().int().min(1).default(DEFAULT_MIN_SEQUENCES),
      })
      .strict()
      .default({
        budget: "auto",
        share: DEFAULT_MEMORY_SHARE,
        reserve: DEFAULT_MEMORY_RESERVE,
        minContextSize: DEFAULT_MIN_CONTEXT_SIZE,
        minSequences: DEFAULT_MIN_SEQUENCES,
      }),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const role of ROLES) {
      const m = c.roles[role].model;
      if (!(m in c.models))
        ctx.addIssue({ code: "custom", path: ["roles", role, "model"], message: `no model "${m}" in "models" (have: ${Object.keys(c.models).join(", ")})` });
    }
  });

export type AgentsConfig = z.infer<typeof agentsConfigSchema>;

/** Reads and validates an agents config file; errors name the field and say what is expected. */
export function loadAgentsConfig(file: string = DEFAULT_AGENTS_CONFIG): AgentsConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new UserError(
      "CONFIG_INVALID",
      `Cannot read the agents config ${file}: ${(e as Error).message}`,
      "Fix the file (JSON) or pass another with --agents-config.",
    );
  }
  return parseAgentsConfig(raw, file);
}

export function parseAgentsConfig(raw: unknown, where = "agents config"): AgentsConfig {
  const r = agentsConfigSchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new UserError("CONFIG_INVALID", `${where} is not valid:\n  ${problems.join("\n  ")}`, "See docs/AGENTS.md for the format.");
  }
  return r.data;
}

export interface AgentsOverrides {
  /** `--agents extractor=4,writer=2` */
  agents?: string;
  /** `--role-model synthesizer=PATH|URI` (repeatable): the role gets a model of its own. */
  roleModels?: string[];
  /** `--context-size N`: tokens per sequence for every model. */
  contextSize?: number;
  /** `--memory-budget SIZE` */
  memoryBudget?: string;
  /** `--backend node-llama-cpp|llama-server`: for every model. */
  backend?: string;
  /** `--endpoint URL` (repeatable): every model of the config is served by these OpenAI-compatible servers (roles given --role-model stay local). */
  endpoints?: string[];
  /** `--endpoint-model NAME`: the model name on the server. */
  endpointModel?: string;
  /** `--api-key-env NAME`: environment variable holding the servers' API key. */
  apiKeyEnv?: string;
  /** `--endpoint-slots N`: concurrent calls per endpoint when the server does not say. */
  endpointSlots?: number;
}

/** Applies command-line overrides; the result is validated again. */
export function applyOverrides(config: AgentsConfig, o: AgentsOverrides): AgentsConfig {
  const next = structuredClone(config) as AgentsConfig;
  if (o.agents) {
    for (const part of o.agents
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const m = /^([a-z]+)=(\d+)$/.exec(part);
      const role = m?.[1] as Role | undefined;
      if (!m || !role || !ROLES.includes(role))
        throw new UserError("USAGE", `--agents takes role=count pairs (roles: ${ROLES.join(", ")}), got "${part}"`, "Example: --agents extractor=4,writer=2");
      next.roles[role].agents = Number(m[2]);
    }
  }
  if (o.endpoints?.length) {
    for (const u of o.endpoints) {
      const problem = endpointUrlProblem(u);
      if (problem) throw new UserError("USAGE", `--endpoint: ${problem}`, "Example: --endpoint http://127.0.0.1:8080");
    }
    for (const m of Object.values(next.models)) m.endpoint = o.endpoints.length === 1 ? o.endpoints[0] : [...o.endpoints];
  }
  const remote = Object.values(next.models).filter((m) => m.endpoint !== undefined);
  const endpointFlags = { "--endpoint-model": o.endpointModel, "--api-key-env": o.apiKeyEnv, "--endpoint-slots": o.endpointSlots };
  for (const [flag, value] of Object.entries(endpointFlags)) {
    if (value === undefined) continue;
    if (remote.length === 0)
      throw new UserError(
        "USAGE",
        `${flag} applies to a model server, and no --endpoint is given (nor an "endpoint" in the agents config).`,
        "Add --endpoint URL.",
      );
  }
  for (const m of remote) {
    if (o.endpointModel !== undefined) m.model = o.endpointModel;
    if (o.apiKeyEnv !== undefined) m.apiKeyEnv = o.apiKeyEnv;
    if (o.endpointSlots !== undefined) m.slots = o.endpointSlots;
  }
  for (const spec of o.roleModels ?? []) {
    const i = spec.indexOf("=");
    const role = spec.slice(0, i) as Role;
    const source = spec.slice(i + 1);
    if (i <= 0 || !ROLES.includes(role) || source === "")
      throw new UserError(
        "USAGE",
        `--role-model takes role=PATH|URI, got "${spec}"`,
        "Example: --role-model synthesizer=~/models/qwen2.5-1.5b-instruct-q4_k_m.gguf",
      );
    const key = `${role}-model`;
    const base = next.models[next.roles[role].model];
    // A role given its own file runs it locally, even when the other models are on a server.
    next.models[key] = { source, contextSize: base?.contextSize ?? DEFAULT_CONTEXT_SIZE, backend: base?.backend ?? "auto" };
    next.roles[role].model = key;
  }
  if (o.contextSize !== undefined) for (const m of Object.values(next.models)) m.contextSize = o.contextSize;
  if (o.memoryBudget !== undefined) next.memory.budget = o.memoryBudget;
  if (o.backend !== undefined) {
    const choice = parseBackendChoice(o.backend);
    if (choice === undefined)
      throw new UserError(
        "USAGE",
        `--backend takes auto, ${MODEL_BACKENDS.join(", ")} or llama (= node-llama-cpp), got "${o.backend}"`,
        "Example: --backend llama (in process) or --backend llama-server",
      );
    for (const m of Object.values(next.models)) m.backend = choice;
  }
  // Models no role uses any more are dropped.
  const used = new Set(ROLES.map((r) => next.roles[r].model));
  for (const key of Object.keys(next.models)) if (!used.has(key)) delete next.models[key];
  return parseAgentsConfig(next, "the agents config with command-line overrides");
}

import { DEFAULT_CONTEXT_SIZE } from "../../config/defaults.ts";
import { type BackendChoice, parseBackendChoice } from "../../llm/chooseBackend.ts";
import { DEFAULT_MEMORY_RESERVE, DEFAULT_MEMORY_SHARE, DEFAULT_MIN_CONTEXT_SIZE, parseByteSize } from "../../llm/memoryPlan.ts";
import { DEFAULT_AGENT_COUNTS } from "../../llm/roles.ts";
import { flagValue } from "../flagValue.ts";
import { type FlagConfig, parseFlags } from "../parseFlags.ts";
import { usageResult } from "../usageResult.ts";
import { DEFAULT_BENCH_DIR } from "./benchResults.ts";
import { type PlanModelArg, parsePlanModelArg } from "./plan.ts";

/** The users' plan: 30 agents (10 extractors, 8 researchers, 6 writers, 4 validators, 2 synthesizers). */
export const DEFAULT_PLAN_AGENTS = Object.values(DEFAULT_AGENT_COUNTS).reduce((a, b) => a + b, 0);
const DEFAULT_PLAN_CONTEXT = DEFAULT_CONTEXT_SIZE;
/** Set aside for the process outside llama.cpp's buffers (the agents issue's target for it). */
/** The run's default (config/agents.json `memory.reserve`), so `plan` and admission agree. */
const DEFAULT_RESERVE = DEFAULT_MEMORY_RESERVE;

interface Common {
  /** --dir: models directory (else $RUST_KB_MODELS_DIR, else node-llama-cpp's ~/.node-llama-cpp/models). */
  dir: string | undefined;
  json: boolean;
}

export interface ListOptions extends Common {}

export interface PullOptionsArgs extends Common {
  target: string;
  /** --no-checksum: skip the sha256 check (the size is still checked). */
  checksum: boolean;
}

export interface InspectOptionsArgs extends Common {
  target: string;
  contextSize: number;
  agents: number;
  /** --cpu: estimate for CPU only even when a GPU is present. */
  cpu: boolean;
}

export interface PlanOptionsArgs extends Common {
  models: PlanModelArg[];
  agents: number;
  /** --memory in bytes; undefined = DEFAULT_MEMORY_SHARE of the free RAM, as a run's admission takes. */
  memoryBytes: number | undefined;
  memoryText: string | undefined;
  contextSize: number;
  minContextSize: number;
  reserveBytes: number;
  benchDir: string;
  /** --backend: the engine to plan for; undefined = what a run would use (RUST_KB_BACKEND, else auto). */
  backend: BackendChoice | undefined;
}

export type ModelsParseResult =
  | { kind: "list"; options: ListOptions }
  | { kind: "pull"; options: PullOptionsArgs }
  | { kind: "inspect"; options: InspectOptionsArgs }
  | { kind: "plan"; options: PlanOptionsArgs }
  | { kind: "help" }
  | { kind: "error"; message: string };

export const MODELS_HELP = `Usage: npm run models -- <command> [options]

Choose, download, inspect and plan the small GGUF models the agents run on.
Catalog: config/models.catalog.json (docs/MODELS.md explains every field and command).

Commands:
  list                          the catalog, with what is downloaded and where
  pull NAME|hf:URI|URL          download with a progress bar; resumable; verified (size,
                                and sha256 where the catalog has one)
  inspect FILE|NAME             what the GGUF says, and memory for the weights and N agents
  plan [MODEL[=N]...]           how many agents of which models fit a memory budget, with the
                                arithmetic; tokens/s where a bench result exists. MODEL is a
                                catalog name or a .gguf path (default: every catalog model);
                                MODEL=N for every model plans a mix loaded together

Options:
  --dir DIR             models directory (default: $RUST_KB_MODELS_DIR, else
                        node-llama-cpp's ~/.node-llama-cpp/models)
  --json                machine-readable output on stdout
  pull:     --no-checksum         skip the sha256 check (size is still checked)
  inspect:  --context N           tokens per agent (default ${DEFAULT_PLAN_CONTEXT})
            --agents N            agents to estimate for (default ${DEFAULT_PLAN_AGENTS})
            --cpu                 estimate for the CPU even if a GPU is present
  plan:     --agents N            agents per model (default ${DEFAULT_PLAN_AGENTS})
            --memory SIZE         budget, e.g. 24GB (powers of 1024: 24GB = 24 GiB);
                                  default ${Math.round(DEFAULT_MEMORY_SHARE * 100)}% of the free RAM, as a run takes
            --context N           tokens per agent (default ${DEFAULT_PLAN_CONTEXT})
            --min-context N       floor when shrinking the context (default ${DEFAULT_MIN_CONTEXT_SIZE})
            --reserve SIZE        memory kept for the process itself (default ${DEFAULT_RESERVE})
            --bench-dir DIR       bench results to read (default ${DEFAULT_BENCH_DIR})
            --backend NAME        the engine to plan for: auto (default: what \`npm run graph\`
                                  would start here), llama-server or node-llama-cpp (llama)
  -h, --help            show this help

Exit codes: 0 done, 1 failed (the message says what to do), 2 usage error, 130 interrupted
(an interrupted pull resumes when run again).`;

const COMMANDS = ["list", "pull", "inspect", "plan"] as const;

/** A positive whole number, or `fallback` when the flag is absent (a bad one throws the usage error). */
function positiveInt(name: string, value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : flagValue.positiveInt(value, name);
}

const MODELS_FLAGS: FlagConfig = {
  dir: { type: "string" },
  json: { type: "boolean" },
  "no-checksum": { type: "boolean" },
  context: { type: "string" },
  agents: { type: "string" },
  cpu: { type: "boolean" },
  memory: { type: "string" },
  "min-context": { type: "string" },
  reserve: { type: "string" },
  "bench-dir": { type: "string" },
  backend: { type: "string" },
};

/** Pure: argv in, a command with its options or a usage error out (tests call this directly). */
export function parseModelsArgs(argv: readonly string[]): ModelsParseResult {
  return usageResult(() => modelsCommand(parseFlags(argv, MODELS_FLAGS, true)));
}

function modelsCommand({ values: v, positionals }: ReturnType<typeof parseFlags>): ModelsParseResult {
  const [command, ...rest] = positionals;
  if (v.help || command === "help") return { kind: "help" };
  if (command === undefined) return { kind: "error", message: `a command is required: ${COMMANDS.join(", ")}` };
  if (!(COMMANDS as readonly string[]).includes(command)) return { kind: "error", message: `unknown command "${command}" (expected ${COMMANDS.join(", ")})` };
  for (const name of ["dir", "bench-dir", "memory", "reserve", "backend"]) if (v[name] === "") return { kind: "error", message: `--${name} needs a value` };
  const allowed: Record<(typeof COMMANDS)[number], string[]> = {
    list: ["dir", "json"],
    pull: ["dir", "json", "no-checksum"],
    inspect: ["dir", "json", "context", "agents", "cpu"],
    plan: ["dir", "json", "agents", "memory", "context", "min-context", "reserve", "bench-dir", "backend"],
  };
  const cmd = command as (typeof COMMANDS)[number];
  for (const [name, value] of Object.entries(v))
    if (value !== undefined && name !== "help" && !allowed[cmd].includes(name)) return { kind: "error", message: `--${name} does not apply to ${cmd}` };
  const common: Common = { dir: v.dir as string | undefined, json: v.json === true };

  if (cmd === "list") {
    if (rest.length > 0) return { kind: "error", message: `list takes no arguments (got ${rest.join(" ")})` };
    return { kind: "list", options: common };
  }
  if (cmd === "pull") {
    if (rest.length !== 1) return { kind: "error", message: "pull takes one model: a catalog name, an hf: URI or a URL" };
    return { kind: "pull", options: { ...common, target: rest[0] ?? "", checksum: v["no-checksum"] !== true } };
  }
  const context = positiveInt("context", v.context as string | undefined, DEFAULT_PLAN_CONTEXT);
  const agents = positiveInt("agents", v.agents as string | undefined, DEFAULT_PLAN_AGENTS);
  if (cmd === "inspect") {
    if (rest.length !== 1) return { kind: "error", message: "inspect takes one model: a .gguf path or a catalog name" };
    return { kind: "inspect", options: { ...common, target: rest[0] ?? "", contextSize: context, agents, cpu: v.cpu === true } };
  }
  const minContext = positiveInt("min-context", v["min-context"] as string | undefined, Math.min(DEFAULT_MIN_CONTEXT_SIZE, context));
  if (minContext > context) return { kind: "error", message: `--min-context (${minContext}) is above --context (${context})` };
  const memoryText = v.memory as string | undefined;
  const memoryBytes = memoryText === undefined ? undefined : parseByteSize(memoryText);
  if (memoryText !== undefined && memoryBytes === undefined)
    return { kind: "error", message: `--memory must be a size such as 24GB or 512MB, got "${memoryText}"` };
  const reserveText = (v.reserve as string | undefined) ?? DEFAULT_RESERVE;
  const reserveBytes = reserveText === "0" ? 0 : parseByteSize(reserveText);
  if (reserveBytes === undefined) return { kind: "error", message: `--reserve must be a size such as 200MB (or 0), got "${reserveText}"` };
  const backendText = v.backend as string | undefined;
  const backend = backendText === undefined ? undefined : parseBackendChoice(backendText);
  if (backendText !== undefined && backend === undefined)
    return { kind: "error", message: `--backend must be auto, llama-server or node-llama-cpp (llama), got "${backendText}"` };
  const models: PlanModelArg[] = [];
  for (const arg of rest) {
    const m = parsePlanModelArg(arg);
    if (typeof m === "string") return { kind: "error", message: m };
    models.push(m);
  }
  return {
    kind: "plan",
    options: {
      ...common,
      models,
      agents,
      memoryBytes,
      memoryText,
      contextSize: context,
      minContextSize: minContext,
      reserveBytes,
      benchDir: (v["bench-dir"] as string | undefined) ?? DEFAULT_BENCH_DIR,
      backend,
    },
  };
}

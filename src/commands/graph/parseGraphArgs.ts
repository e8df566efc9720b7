import { parseArgs } from "node:util";
import { DEFAULT_SETTINGS } from "../../../nodes/deps.ts";
import { DEFAULT_CONTEXT_SIZE, DEFAULT_ENDPOINT_SLOTS, DEFAULT_MAX_FILE_MB, DEFAULT_OUT_DIR, DEFAULT_RUN_DB } from "../../config/defaults.ts";
import { DEFAULT_MEMORY_SHARE } from "../../llm/memoryPlan.ts";
import { DEFAULT_AGENT_COUNTS } from "../../llm/roles.ts";
import type { MaxTokensRole, PipelineOptions } from "../../run/types.ts";

/**
 * What `npm run graph`'s flags parse into: the library's options (src/run/types.ts) with the
 * directories always set, `--resume` as a flag, `--json`, and `runId` = the run to resume (`npm run runs -- resume ID`).
 */
export interface GraphOptions extends Omit<PipelineOptions, "input" | "out" | "db" | "resume" | "runId"> {
  input: string;
  out: string;
  db: string;
  resume: boolean;
  json: boolean;
  llmReview: boolean;
  maxFileMb: number;
  /** Resume this run (by ID) rather than the newest unfinished one (`npm run runs -- resume ID`). */
  runId?: string;
  /** `--watch`: after the run, stay and run again whenever the input changes (models kept loaded). */
  watch?: boolean;
}

const MAX_TOKENS_ROLES = ["extractor", "researcher", "writer", "validator"] as const satisfies readonly MaxTokensRole[];

/** `--max-tokens 256` (every role) or `--max-tokens extractor=400,writer=300`. */
function parseMaxTokens(text: string): Partial<Record<MaxTokensRole, number>> | string {
  const out: Partial<Record<MaxTokensRole, number>> = {};
  const bad = `--max-tokens takes a number or role=N pairs (roles: ${MAX_TOKENS_ROLES.join(", ")}), got "${text}"`;
  if (/^\d+$/.test(text.trim())) {
    const n = Number(text.trim());
    if (n < 16) return bad;
    for (const r of MAX_TOKENS_ROLES) out[r] = n;
    return out;
  }
  for (const part of text.split(",").map((x) => x.trim())) {
    const m = /^([a-z]+)=(\d+)$/.exec(part);
    const role = m?.[1] as MaxTokensRole | undefined;
    if (!m || !role || !MAX_TOKENS_ROLES.includes(role) || Number(m[2]) < 16) return bad;
    out[role] = Number(m[2]);
  }
  return out;
}

export type ParseResult = { kind: "run"; options: GraphOptions } | { kind: "help" } | { kind: "error"; message: string };

const maxTokens = DEFAULT_SETTINGS.maxTokens;

export const GRAPH_HELP = `Usage: npm run graph -- --input DIR [options]

Builds a markdown knowledge base of idiomatic Rust patterns from a directory of research notes
(.md, .markdown, .txt, .json), with five agent roles on a local GGUF model.

Options:
  --input DIR          directory of research files (required; only read, never written)
  --out DIR            knowledge-base directory (default ${DEFAULT_OUT_DIR})
  --model PATH|URI     GGUF file or hf:/https: URI (default: $RUST_KB_MODEL, else
                       Qwen2.5-0.5B-Instruct Q4_K_M, downloaded once on first use)
  --models-dir DIR     where downloaded models live (default: $RUST_KB_MODELS_DIR, else
                       node-llama-cpp's ~/.node-llama-cpp/models)
  --db PATH            checkpoint database (default ${DEFAULT_RUN_DB})
  --resume             continue the last unfinished run for this --input and --out
  --watch              after the run, keep watching --input: each change (a saved, added or
                       removed note) runs again after a short quiet time, with the models kept
                       loaded and only the changed files processed; Ctrl-C stops
  --keep-history       keep every checkpoint of a finished run (default: compacted to the
                       final state; see npm run runs -- compact)
  --site               when the run finishes, also write the knowledge base as a static HTML
                       site into <out>/site (the same as npm run kb -- site)
  --force              re-process every file (by default files whose content, model and
                       prompts are unchanged since the last run are kept as they are)
  --force-out          use an --out directory that has other files in it and no knowledge
                       base (refused by default); files the tool did not write are never
                       replaced or removed
  --prune              drop the entries of files that left the input even when the input has
                       no files or lost most of them (by default they are kept, as an empty or
                       unmounted --input looks the same)
  --break-lock         take over the output lock of a run on another host (a shared disk);
                       only once you know that run is over
  --concurrency N      caps LLM calls in flight: every role's agents and every model's
                       sequences at N, and files in progress at N (default: the total agent
                       count, ${Object.values(DEFAULT_AGENT_COUNTS).reduce((a, b) => a + b, 0)}). 1 gives reproducible output.
  --agents LIST        agents per role over config/agents.json, e.g. extractor=4,writer=2
  --role-model R=M     run role R on model M (a path or hf: URI), e.g. synthesizer=big.gguf
  --agents-config FILE another agents config file (default config/agents.json)
  --memory-budget SIZE memory the models may use, e.g. 6GB (default ${Math.round(DEFAULT_MEMORY_SHARE * 100)}% of free memory)
  --backend NAME       auto (default): llama-server (llama.cpp's own server in a child process,
                       faster with many agents) when its binary is found, else node-llama-cpp in
                       process; llama (= node-llama-cpp) or llama-server force one. Build
                       llama-server once with bash scripts/buildLlamaServer.sh
  --endpoint URL       an OpenAI-compatible model server (Ollama, LM Studio, llama-server, vLLM)
                       runs the models instead of a local GGUF; repeat it for several servers
                       of the same model (calls spread over their slots and move to another
                       server when one fails). Nothing is loaded or downloaded locally.
  --endpoint-model NAME  the model's name on the server (default: the one /v1/models lists)
  --api-key-env NAME   environment variable holding the server's API key (never the key itself)
  --endpoint-slots N   concurrent calls per server when it does not report its slots (default ${DEFAULT_ENDPOINT_SLOTS})
  --max-tokens N|LIST  tokens each call may generate, for every role or per role, e.g.
                       extractor=600,writer=600 (default extractor ${maxTokens.extractor}, researcher ${maxTokens.researcher},
                       writer ${maxTokens.writer}, validator ${maxTokens.validator}); part of the run's settings
  --threads N          CPU threads for generation (default: $RUST_KB_THREADS, else the core count)
  --context-size N     tokens per sequence (default ${DEFAULT_CONTEXT_SIZE}, capped by the model)
  --no-llm-review      validator runs its deterministic checks only
  --max-file-mb N      skip files larger than this (default ${DEFAULT_MAX_FILE_MB})
  --research LIST      research providers, comma-separated: input, docs, tavily (default
                       input,docs, plus tavily when $TAVILY_API_KEY is set)
  --library DIR        add a folder of .md/.txt/.html documentation to the docs index
                       (repeatable; the Rust docs from rustup are found on their own)
  --docs-index PATH    docs index file (default docs-index.sqlite next to --db)
  --tavily-include-domains LIST, --tavily-exclude-domains LIST
                       restrict web results by domain (comma-separated)
  --json               progress events and a final summary as JSON lines on stdout
  -h, --help           show this help

Model servers (docs/SCALING.md):
  npm run graph -- --input ./notes --endpoint http://127.0.0.1:11434 --endpoint-model qwen2.5:0.5b       # Ollama
  npm run graph -- --input ./notes --endpoint http://127.0.0.1:1234 --endpoint-model qwen2.5-0.5b-instruct # LM Studio
  npm run graph -- --input ./notes --endpoint http://10.0.0.5:8080 --endpoint http://10.0.0.6:8080       # llama-server fleet
  VLLM_KEY=... npm run graph -- --input ./notes --endpoint http://gpu-box:8000 --api-key-env VLLM_KEY    # vLLM

Exit codes: 0 done (also when files were skipped), 1 failed, 2 usage error,
130 interrupted (resumable: the summary prints the command).`;

function positiveInt(name: string, value: string | undefined): number | undefined | string {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) return `--${name} must be a positive integer, got "${value}"`;
  return n;
}

/** Pure: argv in, options or a usage error out (tests call this directly). */
export function parseGraphArgs(argv: readonly string[]): ParseResult {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        input: { type: "string" },
        out: { type: "string" },
        model: { type: "string" },
        "models-dir": { type: "string" },
        db: { type: "string" },
        resume: { type: "boolean" },
        watch: { type: "boolean" },
        force: { type: "boolean" },
        "force-out": { type: "boolean" },
        prune: { type: "boolean" },
        "break-lock": { type: "boolean" },
        "keep-history": { type: "boolean" },
        site: { type: "boolean" },
        agents: { type: "string" },
        "role-model": { type: "string", multiple: true },
        "agents-config": { type: "string" },
        "memory-budget": { type: "string" },
        backend: { type: "string" },
        endpoint: { type: "string", multiple: true },
        "endpoint-model": { type: "string" },
        "api-key-env": { type: "string" },
        "endpoint-slots": { type: "string" },
        "max-tokens": { type: "string" },
        concurrency: { type: "string" },
        threads: { type: "string" },
        "context-size": { type: "string" },
        "no-llm-review": { type: "boolean" },
        "max-file-mb": { type: "string" },
        research: { type: "string" },
        library: { type: "string", multiple: true },
        "docs-index": { type: "string" },
        "tavily-include-domains": { type: "string" },
        "tavily-exclude-domains": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    return { kind: "error", message: (e as Error).message };
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (v.help) return { kind: "help" };
  const input = v.input as string | undefined;
  if (!input) return { kind: "error", message: "--input DIR is required" };
  const ints: Record<string, number | undefined> = {};
  for (const name of ["concurrency", "threads", "context-size", "max-file-mb", "endpoint-slots"]) {
    const r = positiveInt(name, v[name] as string | undefined);
    if (typeof r === "string") return { kind: "error", message: r };
    ints[name] = r;
  }
  for (const name of ["out", "model", "db", "models-dir", "docs-index", "endpoint-model", "api-key-env"]) {
    if (v[name] === "") return { kind: "error", message: `--${name} needs a value` };
  }
  const list = (name: string) =>
    typeof v[name] === "string"
      ? (v[name] as string)
          .split(",")
          .map((x) => x.trim())
          .filter((x) => x !== "")
      : undefined;
  const research = list("research");
  if (research !== undefined) {
    const bad = research.find((r) => !["input", "docs", "tavily"].includes(r));
    if (bad !== undefined || research.length === 0)
      return { kind: "error", message: `--research takes a comma-separated list of input, docs, tavily; got "${v.research as string}"` };
  }
  const endpoints = v.endpoint as string[] | undefined;
  if (endpoints?.some((e) => e.trim() === "")) return { kind: "error", message: "--endpoint needs a URL, e.g. http://127.0.0.1:8080" };
  if (endpoints?.length && typeof v.model === "string")
    return {
      kind: "error",
      message: "--model and --endpoint both name the run's model: pick one (use --role-model R=FILE to run one role on a local file next to the servers)",
    };
  if (typeof v["api-key-env"] === "string" && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v["api-key-env"]))
    return { kind: "error", message: `--api-key-env takes the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key itself` };
  let maxTokens: Partial<Record<MaxTokensRole, number>> | undefined;
  if (typeof v["max-tokens"] === "string") {
    const r = parseMaxTokens(v["max-tokens"]);
    if (typeof r === "string") return { kind: "error", message: r };
    maxTokens = r;
  }
  const libraries = v.library as string[] | undefined;
  if (libraries?.some((l) => l === "")) return { kind: "error", message: "--library needs a directory" };
  const researchNames = research as GraphOptions["research"];
  return {
    kind: "run",
    options: {
      input,
      out: (v.out as string | undefined) ?? DEFAULT_OUT_DIR,
      model: v.model as string | undefined,
      db: (v.db as string | undefined) ?? DEFAULT_RUN_DB,
      resume: v.resume === true,
      concurrency: ints.concurrency,
      threads: ints.threads,
      json: v.json === true,
      llmReview: v["no-llm-review"] !== true,
      maxFileMb: ints["max-file-mb"] ?? DEFAULT_MAX_FILE_MB,
      contextSize: ints["context-size"],
      modelsDir: v["models-dir"] as string | undefined,
      ...(v.force === true ? { force: true } : {}),
      ...(v["force-out"] === true ? { forceOut: true } : {}),
      ...(v.prune === true ? { prune: true } : {}),
      ...(v["break-lock"] === true ? { breakLock: true } : {}),
      ...(v["keep-history"] === true ? { keepHistory: true } : {}),
      ...(v.site === true ? { site: true } : {}),
      ...(v.watch === true ? { watch: true } : {}),
      ...(typeof v.agents === "string" ? { agents: v.agents } : {}),
      ...((v["role-model"] as string[] | undefined)?.length ? { roleModels: v["role-model"] as unknown as string[] } : {}),
      ...(typeof v["agents-config"] === "string" ? { agentsConfig: v["agents-config"] } : {}),
      ...(typeof v["memory-budget"] === "string" ? { memoryBudget: v["memory-budget"] } : {}),
      ...(typeof v.backend === "string" ? { backend: v.backend } : {}),
      ...(maxTokens ? { maxTokens } : {}),
      ...(endpoints?.length ? { endpoints: [...new Set(endpoints.map((e) => e.trim()))] } : {}),
      ...(typeof v["endpoint-model"] === "string" ? { endpointModel: v["endpoint-model"] } : {}),
      ...(typeof v["api-key-env"] === "string" ? { apiKeyEnv: v["api-key-env"] } : {}),
      ...(ints["endpoint-slots"] !== undefined ? { endpointSlots: ints["endpoint-slots"] } : {}),
      ...(researchNames ? { research: [...new Set(researchNames)] } : {}),
      ...(libraries?.length ? { libraries } : {}),
      ...(typeof v["docs-index"] === "string" ? { docsIndex: v["docs-index"] } : {}),
      ...(list("tavily-include-domains") ? { tavilyIncludeDomains: list("tavily-include-domains") } : {}),
      ...(list("tavily-exclude-domains") ? { tavilyExcludeDomains: list("tavily-exclude-domains") } : {}),
    },
  };
}

import { DEFAULT_SETTINGS } from "../../nodes/deps.ts";
import { DEFAULT_CONTEXT_SIZE, DEFAULT_ENDPOINT_SLOTS, DEFAULT_MAX_FILE_MB, DEFAULT_OUT_DIR, DEFAULT_RUN_DB, WATCH_DEBOUNCE_MS } from "../config/defaults.ts";
import { DEFAULT_MEMORY_SHARE } from "../llm/memoryPlan.ts";
import { DEFAULT_AGENT_COUNTS } from "../llm/roles.ts";
import type { MaxTokensRole } from "../run/types.ts";
import { flagValue } from "./flagValue.ts";
import type { GraphOptions } from "./graph/GraphOptions.ts";
import type { FlagValues } from "./parseFlags.ts";

/**
 * One flag of a pipeline run, declared once: the graph command's parser and help, `npm run eval`'s
 * and `npm run studio`'s pass-through and the README's options table are all made from it.
 */
export interface RunFlag<T> {
  /** Its name on the command line, without the dashes. */
  name: string;
  /** Its value's placeholder in the help (`DIR`, `N`); absent: a boolean flag. */
  arg?: string;
  /** Repeatable: every value is kept (parseArgs' `multiple`). */
  repeat?: true;
  /** The option's value from what parseArgs gave (flagValue's readers); throws the usage error. */
  read: (raw: NonNullable<FlagValues[string]>, name: string) => T;
  /**
   * The option's value when the flag is absent. Without one the option is left out, for the run to
   * decide; `fallback: undefined` written out keeps the key, undefined (the graph command's options always had these keys).
   */
  fallback?: T;
  /** One paragraph of help (the help wraps it); `(default …)` is added from `shownDefault` or `fallback`. */
  help: string;
  /** The default as the help says it; absent: the fallback when that is text or a number. */
  shownDefault?: string;
  /** Markdown for the README's table where it says more than the help: its default and meaning columns. */
  docs?: { default?: string; meaning?: string };
  /** False: `npm run eval` does not hand it to the pipeline run (it accepts it, as the graph command's parser does). */
  eval?: false;
  /** `npm run studio` takes it for its runs: the runs it starts ("new"), or every run it starts or resumes ("every"). */
  studio?: "new" | "every";
}

/** Options that no flag sets: the run to resume comes from `npm run runs -- resume ID`; the rest only from the library or Studio. */
type NotAFlag = "runId" | "checkpointId" | "rustc";

/** Every option of a run that a flag sets: a key added to PipelineOptions fails the typecheck until RUN_FLAGS declares its flag (or NotAFlag names it). */
export type RunFlagKey = Exclude<keyof GraphOptions, NotAFlag>;

type RunFlagTable = { [K in RunFlagKey]: RunFlag<NonNullable<GraphOptions[K]>> };

const MAX_TOKENS_ROLES = ["extractor", "researcher", "writer", "validator"] as const satisfies readonly MaxTokensRole[];
const RESEARCH = ["input", "docs", "tavily"] as const;
const TOTAL_AGENTS = Object.values(DEFAULT_AGENT_COUNTS).reduce((a, b) => a + b, 0);
const maxTokens = DEFAULT_SETTINGS.maxTokens;

/** `--max-tokens 256` (every role) or `--max-tokens extractor=400,writer=300`. */
function readMaxTokens(raw: NonNullable<FlagValues[string]>): Partial<Record<MaxTokensRole, number>> {
  const text = raw as string;
  const bad = () => flagValue.usage(`--max-tokens takes a number or role=N pairs (roles: ${MAX_TOKENS_ROLES.join(", ")}), got "${text}"`);
  if (/^\d+$/.test(text.trim())) {
    const n = Number(text.trim());
    return n < 16 ? bad() : Object.fromEntries(MAX_TOKENS_ROLES.map((r) => [r, n]));
  }
  const out: Partial<Record<MaxTokensRole, number>> = {};
  for (const part of text.split(",").map((x) => x.trim())) {
    const m = /^([a-z]+)=(\d+)$/.exec(part);
    const role = m?.[1] as MaxTokensRole | undefined;
    if (!m || !role || !MAX_TOKENS_ROLES.includes(role) || Number(m[2]) < 16) return bad();
    out[role] = Number(m[2]);
  }
  return out;
}

/** Every flag of `npm run graph`, in the order of its help and of the README's table. */
export const RUN_FLAGS = {
  input: {
    name: "input",
    arg: "DIR",
    read: flagValue.text,
    help: "directory of research files (required; only read, never written)",
    docs: { default: "(required)", meaning: "research files; only read, never written. Links leaving it are not followed." },
  },
  out: {
    name: "out",
    arg: "DIR",
    read: flagValue.nonEmpty,
    fallback: DEFAULT_OUT_DIR,
    help: "knowledge-base directory",
    docs: { meaning: "knowledge-base directory; never inside `--input` (nor `--input` inside it), compared by real path, links followed" },
  },
  model: {
    name: "model",
    arg: "PATH|URI",
    read: flagValue.nonEmpty,
    fallback: undefined,
    help: "GGUF file or hf:/https: URI",
    shownDefault: "$RUST_KB_MODEL, else Qwen2.5-0.5B-Instruct Q4_K_M, downloaded once on first use",
    docs: { default: "`$RUST_KB_MODEL`, else Qwen2.5-0.5B-Instruct Q4_K_M", meaning: "a `.gguf` path, or `hf:user/repo/file.gguf`, downloaded once" },
    studio: "new",
  },
  modelsDir: {
    name: "models-dir",
    arg: "DIR",
    read: flagValue.nonEmpty,
    fallback: undefined,
    help: "where downloaded models live",
    shownDefault: "$RUST_KB_MODELS_DIR, else node-llama-cpp's ~/.node-llama-cpp/models",
    docs: { default: "`$RUST_KB_MODELS_DIR`, else `~/.node-llama-cpp/models`" },
  },
  db: { name: "db", arg: "PATH", read: flagValue.nonEmpty, fallback: DEFAULT_RUN_DB, help: "checkpoint database" },
  resume: { name: "resume", read: flagValue.given, fallback: false, help: "continue the last unfinished run for this --input and --out" },
  watch: {
    name: "watch",
    read: flagValue.given,
    help: `after the run, keep watching --input: each change (a saved, added or removed note) runs again after ${WATCH_DEBOUNCE_MS / 1000} s of quiet, with the models kept loaded and only the changed files processed; Ctrl-C stops`,
    docs: {
      meaning: `after the run, keep watching \`--input\`: a saved, added or removed note runs again after ${WATCH_DEBOUNCE_MS / 1000} s of quiet, with the models kept loaded and only the changed files processed; Ctrl-C stops ([Watch mode](#watch-mode))`,
    },
    eval: false,
  },
  keepHistory: {
    name: "keep-history",
    read: flagValue.given,
    help: "keep every checkpoint of a finished run (by default it is compacted to its final state; see npm run runs -- compact)",
    docs: { meaning: "keep a finished run's full checkpoint history (default: compacted to its final state; see `npm run runs -- compact`)" },
  },
  site: {
    name: "site",
    read: flagValue.given,
    help: "when the run finishes, also write the knowledge base as a static HTML site into <out>/site (the same as npm run kb -- site)",
    docs: { meaning: "when the run finishes, also write the static HTML site into `<out>/site` (as `npm run kb -- site`)" },
  },
  force: {
    name: "force",
    read: flagValue.given,
    help: "re-process every file (by default files whose content, model and prompts are unchanged since the last run are kept as they are)",
  },
  forceOut: {
    name: "force-out",
    read: flagValue.given,
    help: "write into an --out directory that has other files in it and no knowledge base (refused by default); files the tool did not write are never replaced or removed",
  },
  prune: {
    name: "prune",
    read: flagValue.given,
    help: "drop the entries of missing files even when the input has none, or under half, of the files the knowledge base came from (by default they are kept: an empty or unmounted --input looks the same)",
  },
  breakLock: {
    name: "break-lock",
    read: flagValue.given,
    help: "take over the output lock of a run on another host (a shared disk); only once you know that run is over",
  },
  concurrency: {
    name: "concurrency",
    arg: "N",
    read: flagValue.positiveInt,
    fallback: undefined,
    help: "caps LLM calls in flight: every role's agents and every model's sequences at N, and files in progress at N; 1 gives reproducible output",
    shownDefault: `the total agent count, ${TOTAL_AGENTS}`,
    docs: {
      default: `total agents (${TOTAL_AGENTS}); files in progress on a CPU-only engine: 1 per thread, at least 2, with one model call at a time per two files`,
      meaning: "caps every role's agents, every model's sequences and the files in progress; `1` gives reproducible output",
    },
    studio: "every",
  },
  agents: {
    name: "agents",
    arg: "LIST",
    read: flagValue.text,
    help: "agents per role over config/agents.json, e.g. extractor=4,writer=2",
    docs: { default: "`config/agents.json`", meaning: "agents per role, e.g. `extractor=4,writer=2` ([docs/AGENTS.md](docs/AGENTS.md))" },
  },
  roleModels: {
    name: "role-model",
    arg: "R=M",
    repeat: true,
    read: flagValue.each,
    help: "run role R on model M (a path or hf: URI), e.g. synthesizer=big.gguf; repeatable",
    docs: { meaning: "run role R on its own model, e.g. `synthesizer=~/models/qwen2.5-1.5b-instruct-q4_k_m.gguf`; repeatable" },
  },
  agentsConfig: {
    name: "agents-config",
    arg: "FILE",
    read: flagValue.text,
    help: "another agents config file",
    shownDefault: "config/agents.json",
    docs: { default: "`config/agents.json`", meaning: "another agents config file ([docs/AGENTS.md](docs/AGENTS.md))" },
  },
  memoryBudget: {
    name: "memory-budget",
    arg: "SIZE",
    read: flagValue.text,
    help: "memory the models may use, e.g. 6GB; over it, context then sequences shrink, else the run is refused with the arithmetic",
    shownDefault: `${Math.round(DEFAULT_MEMORY_SHARE * 100)}% of free memory`,
  },
  backend: {
    name: "backend",
    arg: "NAME",
    read: flagValue.text,
    help: "auto (default): llama-server (llama.cpp's own server in a child process, faster with many agents) when its binary is found, else node-llama-cpp in process; llama (= node-llama-cpp) or llama-server force one. Build llama-server once with bash scripts/buildLlamaServer.sh",
    docs: {
      default: "`auto`",
      meaning:
        "`auto`: llama.cpp's own llama-server (child process, loopback; faster with many agents, and its JSON grammar is patched to mask rejections cheaply) when its binary is found — `npm install` builds it once, `bash scripts/buildLlamaServer.sh` by hand; the project's build comes before one on PATH, and the run names the one it starts (version, grammar patch) — else node-llama-cpp in this process, with no error; `llama` (= `node-llama-cpp`) or `llama-server` forces one ([docs/AGENTS.md](docs/AGENTS.md))",
    },
  },
  endpoints: {
    name: "endpoint",
    arg: "URL",
    repeat: true,
    read: (raw) => {
      const urls = flagValue.each(raw).map((e) => e.trim());
      return urls.includes("") ? flagValue.usage("--endpoint needs a URL, e.g. http://127.0.0.1:8080") : [...new Set(urls)];
    },
    help: "an OpenAI-compatible model server (Ollama, LM Studio, llama-server, vLLM) runs the models instead of a local GGUF; repeat it for several servers of the same model (calls spread over their slots and move to another server when one fails). Nothing is loaded or downloaded locally.",
    docs: {
      meaning:
        "an OpenAI-compatible model server (Ollama, LM Studio, llama-server, vLLM) runs the models; repeat for several servers of one model; nothing is loaded locally ([Model servers](#model-servers))",
    },
    studio: "new",
  },
  endpointModel: {
    name: "endpoint-model",
    arg: "NAME",
    read: flagValue.nonEmpty,
    help: "the model's name on the servers",
    shownDefault: "the one /v1/models lists",
    docs: { default: "the one `/v1/models` lists" },
    studio: "new",
  },
  apiKeyEnv: {
    name: "api-key-env",
    arg: "NAME",
    read: (raw, name) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(flagValue.nonEmpty(raw, name))
        ? (raw as string)
        : flagValue.usage("--api-key-env takes the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key itself"),
    help: "environment variable holding the servers' API key (never the key itself, which is never written anywhere)",
    studio: "new",
  },
  endpointSlots: {
    name: "endpoint-slots",
    arg: "N",
    read: flagValue.positiveInt,
    help: "concurrent calls per server when it does not report its slots",
    shownDefault: String(DEFAULT_ENDPOINT_SLOTS),
    docs: { default: `server's \`/props\`, else ${DEFAULT_ENDPOINT_SLOTS}` },
  },
  maxTokens: {
    name: "max-tokens",
    arg: "N|LIST",
    read: readMaxTokens,
    help: "tokens each call may generate, for every role (256) or per role (extractor=600,writer=600); part of the run's settings, so a change re-processes files",
    shownDefault: MAX_TOKENS_ROLES.map((r) => `${r} ${maxTokens[r]}`).join(", "),
    docs: {
      meaning:
        "tokens each call may generate, for every role (`256`) or per role (`extractor=600,writer=600`); part of the run's settings, so a change re-processes files",
    },
  },
  threads: {
    name: "threads",
    arg: "N",
    read: flagValue.positiveInt,
    fallback: undefined,
    help: "CPU threads for generation",
    shownDefault: "$RUST_KB_THREADS, else the core count",
    docs: { default: "`$RUST_KB_THREADS`, else the core count" },
    studio: "every",
  },
  contextSize: {
    name: "context-size",
    arg: "N",
    read: flagValue.positiveInt,
    fallback: undefined,
    help: "tokens per sequence, capped by the model's trained context; the memory plan gives less when the budget is short",
    shownDefault: String(DEFAULT_CONTEXT_SIZE),
    docs: {
      meaning:
        "tokens per sequence, capped by the model's trained context; the memory plan gives less when the budget is short ([docs/MODELS.md](docs/MODELS.md#how-much-context))",
    },
  },
  llmReview: { name: "no-llm-review", read: () => false, fallback: true, help: "validator runs its deterministic checks only" },
  maxFileMb: { name: "max-file-mb", arg: "N", read: flagValue.positiveInt, fallback: DEFAULT_MAX_FILE_MB, help: "skip larger files, with a reason" },
  research: {
    name: "research",
    arg: "LIST",
    read: (raw) => {
      const names = flagValue.list(raw);
      if (names.length === 0 || names.some((r) => !(RESEARCH as readonly string[]).includes(r)))
        flagValue.usage(`--research takes a comma-separated list of ${RESEARCH.join(", ")}; got "${raw}"`);
      return [...new Set(names)] as (typeof RESEARCH)[number][];
    },
    help: `research providers, comma-separated: ${RESEARCH.join(", ")}`,
    shownDefault: "input,docs, plus tavily when $TAVILY_API_KEY is set",
    docs: {
      default: "`input,docs` (+`tavily` with a key)",
      meaning: "research providers ([docs/RESEARCH.md](docs/RESEARCH.md)); `--library DIR` adds documentation",
    },
    studio: "every",
  },
  libraries: {
    name: "library",
    arg: "DIR",
    repeat: true,
    read: (raw) => (flagValue.each(raw).includes("") ? flagValue.usage("--library needs a directory") : flagValue.each(raw)),
    help: "add a folder of .md/.txt/.html documentation to the docs index (repeatable; the Rust docs from rustup are found on their own)",
  },
  docsIndex: { name: "docs-index", arg: "PATH", read: flagValue.nonEmpty, help: "docs index file", shownDefault: "docs-index.sqlite next to --db" },
  tavilyIncludeDomains: { name: "tavily-include-domains", arg: "LIST", read: flagValue.list, help: "web results only from these domains (comma-separated)" },
  tavilyExcludeDomains: { name: "tavily-exclude-domains", arg: "LIST", read: flagValue.list, help: "no web results from these domains (comma-separated)" },
  json: { name: "json", read: flagValue.given, fallback: false, help: "JSON lines on stdout: progress events, then a final summary object" },
} satisfies RunFlagTable;

/** The run options that `npm run studio` takes for the runs it starts or resumes. */
export type StudioRunFlagKey = { [K in RunFlagKey]: (typeof RUN_FLAGS)[K] extends { studio: string } ? K : never }[RunFlagKey];

/** The keys of the flags that `keep` keeps, in the table's order (every flag without it). */
export function runFlagKeys(keep: (flag: RunFlag<unknown>) => boolean = () => true): RunFlagKey[] {
  return (Object.keys(RUN_FLAGS) as RunFlagKey[]).filter((key) => keep(RUN_FLAGS[key] as RunFlag<unknown>));
}

/** The default a flag's help and docs name: its own words, else its fallback when that is text or a number. */
export function defaultText(flag: RunFlag<unknown>): string | undefined {
  if (flag.shownDefault !== undefined) return flag.shownDefault;
  return typeof flag.fallback === "string" || typeof flag.fallback === "number" ? String(flag.fallback) : undefined;
}

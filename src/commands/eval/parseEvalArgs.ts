import { type GraphOptions, parseGraphArgs } from "../graph/parseGraphArgs.ts";

export interface EvalOptions {
  /** Labels file in the format of ../shared/corpus/rust-research.labels.json. */
  labels: string;
  /** Where the markdown report goes (default <out>/.runs/eval-<run ID>.md). */
  report: string | undefined;
  /** Run the pipeline even when the knowledge base in --out is from a finished run over the same input. */
  rerun: boolean;
  /** The pipeline's options (the graph command's). */
  graph: GraphOptions;
}

export type EvalParseResult = { kind: "run"; options: EvalOptions } | { kind: "help" } | { kind: "error"; message: string };

export const EVAL_HELP = `Usage: npm run eval -- --input DIR --labels FILE [options]

Scores a knowledge base against ground-truth labels: recall of the labelled patterns, entries that
match no label, duplicates left, and the verification mix. It runs the pipeline first, unless the
knowledge base in --out comes from a finished run over the same input (same files, same content,
same --model when one is given), which it reuses.

Options:
  --labels FILE        labels JSON in the format of ../shared/corpus/rust-research.labels.json (required)
  --report PATH        markdown report (default <out>/.runs/eval-<run ID>.md)
  --rerun              run the pipeline even when the knowledge base could be reused
  -h, --help           show this help

Every option of \`npm run graph\` is accepted too and goes to the pipeline run: --input (required),
--out, --model, --models-dir, --db, --resume, --concurrency, --threads, --context-size,
--agents, --role-model, --agents-config, --memory-budget, --backend, --endpoint, --endpoint-model,
--api-key-env, --endpoint-slots, --max-tokens, --research, --library,
--no-llm-review, --max-file-mb, --json (the last JSON line on stdout is then the evaluation).

Exit codes: 0 scored, 1 failed, 2 usage error, 130 interrupted (the pipeline run is resumable).`;

/** Options of the graph command that take a value (copied through with it). */
const GRAPH_VALUE_OPTIONS = new Set([
  "--input",
  "--out",
  "--model",
  "--models-dir",
  "--db",
  "--concurrency",
  "--threads",
  "--context-size",
  "--max-file-mb",
  "--agents",
  "--role-model",
  "--agents-config",
  "--memory-budget",
  "--backend",
  "--endpoint",
  "--endpoint-model",
  "--api-key-env",
  "--endpoint-slots",
  "--max-tokens",
  "--research",
  "--library",
  "--docs-index",
  "--tavily-include-domains",
  "--tavily-exclude-domains",
]);

/** Pure: argv in, options or a usage error out. Eval's own flags are taken out; the rest is the graph command's. */
export function parseEvalArgs(argv: readonly string[]): EvalParseResult {
  let labels: string | undefined;
  let report: string | undefined;
  let rerun = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (flag === "-h" || flag === "--help") return { kind: "help" };
    if (flag === "--labels" || flag === "--report") {
      const value = inline ?? argv[++i];
      if (value === undefined || value === "" || (inline === undefined && value.startsWith("--"))) return { kind: "error", message: `${flag} needs a value` };
      if (flag === "--labels") labels = value;
      else report = value;
      continue;
    }
    if (flag === "--rerun") {
      if (inline !== undefined) return { kind: "error", message: "--rerun takes no value" };
      rerun = true;
      continue;
    }
    rest.push(arg);
    if (GRAPH_VALUE_OPTIONS.has(flag) && inline === undefined && i + 1 < argv.length) rest.push(argv[++i] as string);
  }
  const graph = parseGraphArgs(rest);
  if (graph.kind === "help") return { kind: "help" };
  if (graph.kind === "error") return graph;
  if (!labels) return { kind: "error", message: "--labels FILE is required" };
  if (rerun && graph.options.resume) return { kind: "error", message: "--rerun and --resume contradict each other: --resume continues an unfinished run" };
  return { kind: "run", options: { labels, report, rerun, graph: graph.options } };
}

import { wrapWords } from "../../util/wrapWords.ts";
import type { GraphOptions } from "../graph/GraphOptions.ts";
import { GRAPH_FLAGS, parseGraphArgs } from "../graph/parseGraphArgs.ts";
import { RUN_FLAGS, type RunFlag, runFlagKeys } from "../runFlags.ts";

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

const names = (keep: (flag: RunFlag<unknown>) => boolean) => runFlagKeys(keep).map((k) => `--${RUN_FLAGS[k].name}`);
const ignored = names((f) => f.eval === false);

/** What eval says of the graph command's flags (src/commands/runFlags.ts decides which go on to the pipeline run). */
const PASSED = wrapWords(
  `The options of \`npm run graph\` are accepted too, and go on to the pipeline run: ${names((f) => f.eval !== false).join(", ")}. ` +
    "--input is required; with --json the last JSON line on stdout is the evaluation." +
    (ignored.length ? ` ${ignored.join(", ")} ${ignored.length === 1 ? "is" : "are"} accepted and ignored.` : ""),
).join("\n");

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

${PASSED}

Exit codes: 0 scored, 1 failed, 2 usage error, 130 interrupted (the pipeline run is resumable).`;

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
    if (GRAPH_FLAGS.valueFlags.has(flag) && inline === undefined && i + 1 < argv.length) rest.push(argv[++i] as string);
  }
  const graph = parseGraphArgs(rest);
  if (graph.kind === "help") return { kind: "help" };
  if (graph.kind === "error") return graph;
  if (!labels) return { kind: "error", message: "--labels FILE is required" };
  if (rerun && graph.options.resume) return { kind: "error", message: "--rerun and --resume contradict each other: --resume continues an unfinished run" };
  return { kind: "run", options: { labels, report, rerun, graph: graph.options } };
}

import { parseFlags } from "../parseFlags.ts";
import { runFlagSet } from "../runFlagSet.ts";
import { runFlagKeys } from "../runFlags.ts";
import { usageResult } from "../usageResult.ts";
import type { GraphOptions } from "./GraphOptions.ts";

export type ParseResult = { kind: "run"; options: GraphOptions } | { kind: "help" } | { kind: "error"; message: string };

/** Every run flag (src/commands/runFlags.ts): `npm run graph` takes them all. */
export const GRAPH_FLAGS = runFlagSet(runFlagKeys());

export const GRAPH_HELP = `Usage: npm run graph -- --input DIR [options]

Builds a markdown knowledge base of idiomatic Rust patterns from a directory of research notes
(.md, .markdown, .txt, .json), with five agent roles on a local GGUF model.

Options:
${GRAPH_FLAGS.help}
  -h, --help           show this help

Model servers (docs/SCALING.md):
  npm run graph -- --input ./notes --endpoint http://127.0.0.1:11434 --endpoint-model qwen2.5:0.5b       # Ollama
  npm run graph -- --input ./notes --endpoint http://127.0.0.1:1234 --endpoint-model qwen2.5-0.5b-instruct # LM Studio
  npm run graph -- --input ./notes --endpoint http://10.0.0.5:8080 --endpoint http://10.0.0.6:8080       # llama-server fleet
  VLLM_KEY=... npm run graph -- --input ./notes --endpoint http://gpu-box:8000 --api-key-env VLLM_KEY    # vLLM

Exit codes: 0 done (also when files were skipped), 1 failed, 2 usage error,
130 interrupted (resumable: the summary prints the command).`;

/** Pure: argv in, options or a usage error out (tests call this directly). */
export function parseGraphArgs(argv: readonly string[]): ParseResult {
  return usageResult((): ParseResult => {
    const { values } = parseFlags(argv, GRAPH_FLAGS.config);
    if (values.help) return { kind: "help" };
    if (!values.input) return { kind: "error", message: "--input DIR is required" };
    const options = GRAPH_FLAGS.read(values);
    if (options.endpoints && options.model !== undefined)
      return {
        kind: "error",
        message: "--model and --endpoint both name the run's model: pick one (use --role-model R=FILE to run one role on a local file next to the servers)",
      };
    return { kind: "run", options };
  });
}

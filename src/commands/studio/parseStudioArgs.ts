import { DEFAULT_RUN_DB } from "../../config/defaults.ts";
import type { PipelineOptions } from "../../run/types.ts";
import { wrapWords } from "../../util/wrapWords.ts";
import { parseFlags } from "../parseFlags.ts";
import { runFlagSet } from "../runFlagSet.ts";
import { RUN_FLAGS, type RunFlag, runFlagKeys, type StudioRunFlagKey } from "../runFlags.ts";
import { usageResult } from "../usageResult.ts";

/** The run flags `npm run studio` takes for its runs (src/commands/runFlags.ts marks them `studio`). */
export const STUDIO_RUN_FLAGS = runFlagSet(runFlagKeys((f) => f.studio !== undefined) as StudioRunFlagKey[]);

/** `--model`, `--endpoint`, `--threads`…: the runs' options as `npm run graph` takes them (runFlags.ts says which apply to resumed runs too). */
export interface StudioOptions extends Pick<PipelineOptions, StudioRunFlagKey> {
  /** The run database served (default: the CLI's, so `npm run graph` runs appear as threads). */
  db: string;
  /** TCP port on 127.0.0.1 (0: any free port; the server prints the one it got). */
  port: number;
  /** `--root DIR` (repeatable): the only directories Studio runs may read and write; empty = where the user started. */
  roots: string[];
  /** `--allow-origin ORIGIN` (repeatable): browser origins allowed besides the hosted Studio and localhost. */
  allowOrigins: string[];
  /** `--compact`: compact a run that finishes from Studio, as the CLI does (default: keep its step history for time travel). */
  compact: boolean;
}

export type StudioCommand = { kind: "run"; options: StudioOptions } | { kind: "help" } | { kind: "error"; message: string };

const DEFAULT_STUDIO_PORT = 2124;

const flagNames = (when: "new" | "every") => {
  const names = runFlagKeys((f) => f.studio === when).map((k) => `--${RUN_FLAGS[k].name}`);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : (names[0] ?? "");
};

/** `[--model PATH|URI] [--endpoint URL ...]`…, wrapped under the usage line's first flag. */
const RUN_USAGE = wrapWords(
  runFlagKeys((f) => f.studio !== undefined).map((k) => {
    const f = RUN_FLAGS[k] as RunFlag<unknown>;
    return `[--${f.name} ${f.arg}${f.repeat ? " ..." : ""}]`;
  }),
  74,
)
  .map((line) => `${" ".repeat(26)}${line}`)
  .join("\n");

export const STUDIO_HELP = `Usage: npm run studio -- [--db PATH] [--port N] [--root DIR ...] [--allow-origin ORIGIN ...] [--compact]
${RUN_USAGE}

Serves the run database (default ${DEFAULT_RUN_DB}, the one \`npm run graph\` writes) to LangGraph
Studio on 127.0.0.1 (default port ${DEFAULT_STUDIO_PORT}; 0 picks a free one). Every run is a thread whose
ID is the run ID: open its state and history, fork from a checkpoint, resume it. Open the hosted Studio at
  https://smith.langchain.com/studio/?baseUrl=http://127.0.0.1:PORT
(needs internet in the browser), or call the API with @langchain/langgraph-sdk (works offline).
Runs may read and write only under --root (repeatable; default: the directory you started in).
Browsers may call the server only from the hosted Studio and localhost pages; --allow-origin
(repeatable) adds an origin. Requests must send JSON bodies. See docs/STUDIO.md and docs/SECURITY.md.
${wrapWords(
  `${flagNames("new")} apply to the runs started from Studio, as with npm run graph (a resumed run keeps its own models); ` +
    `--endpoint-model and --api-key-env need --endpoint. ${flagNames("every")} apply to every run the server starts or resumes. ` +
    "Runs that finish from Studio keep their step history (as --keep-history); --compact drops it as the CLI does.",
).join("\n")}`;

/** Pure: argv in, a command out. */
export function parseStudioArgs(argv: readonly string[]): StudioCommand {
  return usageResult((): StudioCommand => {
    const { values: v } = parseFlags(argv, {
      db: { type: "string" },
      port: { type: "string" },
      root: { type: "string", multiple: true },
      "allow-origin": { type: "string", multiple: true },
      compact: { type: "boolean" },
      ...STUDIO_RUN_FLAGS.config,
    });
    if (v.help) return { kind: "help" };
    const portText = (v.port as string | undefined) ?? String(DEFAULT_STUDIO_PORT);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) return { kind: "error", message: `--port must be a number from 0 to 65535, got "${portText}"` };
    const run = STUDIO_RUN_FLAGS.read(v);
    if ((run.endpointModel !== undefined || run.apiKeyEnv !== undefined) && !run.endpoints)
      return { kind: "error", message: "--endpoint-model and --api-key-env need --endpoint URL" };
    return {
      kind: "run",
      options: {
        db: (v.db as string | undefined) ?? DEFAULT_RUN_DB,
        port,
        roots: (v.root as string[] | undefined) ?? [],
        allowOrigins: (v["allow-origin"] as string[] | undefined) ?? [],
        compact: v.compact === true,
        ...run,
      },
    };
  });
}

import { DEFAULT_RUN_DB } from "../../config/defaults.ts";
import { parseFlags } from "../parseFlags.ts";
import { runFlagSet } from "../runFlagSet.ts";
import { usageResult } from "../usageResult.ts";

export type RunsCommand =
  | { kind: "list"; db: string; json: boolean }
  | { kind: "show"; db: string; json: boolean; id: string }
  | { kind: "resume"; db: string; json: boolean; id: string; threads?: number; concurrency?: number }
  | { kind: "delete"; db: string; json: boolean; id: string }
  | { kind: "compact"; db: string; json: boolean; id: string | "--done" }
  | { kind: "help" }
  | { kind: "error"; message: string };

export const RUNS_HELP = `Usage: npm run runs -- COMMAND [--db PATH] [--json]

  list             every run: state, input -> output, model, files done, start and end
  show ID          one run: settings, per-file progress (the node each file reached),
                   quarantined drafts with the validator's reasons, token and time totals
  resume ID        continue an interrupted or failed run (accepts --threads N, --concurrency N)
  delete ID        remove a run and everything only it uses from the database (not its
                   knowledge base)
  compact ID       drop a finished run's step history (keeps its final state and counts);
  compact --done   ... for every finished run

Options: --db PATH (default ${DEFAULT_RUN_DB}), --json (machine-readable output)`;

/** `resume ID` takes the run flags that do not change what the run makes (src/commands/runFlags.ts). */
const RESUME_FLAGS = runFlagSet(["threads", "concurrency"]);

/** Pure: argv in, a command out. */
export function parseRunsArgs(argv: readonly string[]): RunsCommand {
  return usageResult(() =>
    runsCommand(parseFlags(argv, { db: { type: "string" }, json: { type: "boolean" }, done: { type: "boolean" }, ...RESUME_FLAGS.config }, true)),
  );
}

function runsCommand({ values: v, positionals }: ReturnType<typeof parseFlags>): RunsCommand {
  const [cmd, id, ...rest] = positionals;
  if (v.help || cmd === "help") return { kind: "help" };
  if (rest.length > 0) return { kind: "error", message: `unexpected arguments: ${rest.join(" ")}` };
  const db = (v.db as string | undefined) ?? DEFAULT_RUN_DB;
  const json = v.json === true;
  switch (cmd) {
    case undefined:
      return { kind: "error", message: "a command is required: list, show, resume, delete or compact" };
    case "list":
      return id ? { kind: "error", message: "list takes no run ID" } : { kind: "list", db, json };
    case "show":
    case "delete":
      return id ? { kind: cmd, db, json, id } : { kind: "error", message: `${cmd} needs a run ID (see npm run runs -- list)` };
    case "compact":
      if (v.done) return id ? { kind: "error", message: "compact takes a run ID or --done, not both" } : { kind: "compact", db, json, id: "--done" };
      return id ? { kind: "compact", db, json, id } : { kind: "error", message: "compact needs a run ID or --done" };
    case "resume":
      return id ? { kind: "resume", db, json, id, ...RESUME_FLAGS.read(v) } : { kind: "error", message: "resume needs a run ID (see npm run runs -- list)" };
    default:
      return { kind: "error", message: `unknown command "${cmd}": use list, show, resume, delete or compact` };
  }
}

import { parseArgs } from "node:util";
import { DEFAULT_RUN_DB } from "../../config/defaults.ts";

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

/** Pure: argv in, a command out. */
export function parseRunsArgs(argv: readonly string[]): RunsCommand {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        db: { type: "string" },
        json: { type: "boolean" },
        done: { type: "boolean" },
        threads: { type: "string" },
        concurrency: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    return { kind: "error", message: (e as Error).message };
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const [cmd, id, ...rest] = parsed.positionals;
  if (v.help || cmd === "help") return { kind: "help" };
  if (rest.length > 0) return { kind: "error", message: `unexpected arguments: ${rest.join(" ")}` };
  const db = (v.db as string | undefined) ?? DEFAULT_RUN_DB;
  const json = v.json === true;
  const int = (name: string): number | undefined | string => {
    const s = v[name] as string | undefined;
    if (s === undefined) return undefined;
    const n = Number(s);
    return Number.isInteger(n) && n > 0 ? n : `--${name} must be a positive integer, got "${s}"`;
  };
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
    case "resume": {
      if (!id) return { kind: "error", message: "resume needs a run ID (see npm run runs -- list)" };
      const threads = int("threads");
      const concurrency = int("concurrency");
      if (typeof threads === "string") return { kind: "error", message: threads };
      if (typeof concurrency === "string") return { kind: "error", message: concurrency };
      return { kind: "resume", db, json, id, ...(threads ? { threads } : {}), ...(concurrency ? { concurrency } : {}) };
    }
    default:
      return { kind: "error", message: `unknown command "${cmd}": use list, show, resume, delete or compact` };
  }
}

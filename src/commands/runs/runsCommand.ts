/**
 * The programmatic side of `npm run runs`: runs one parsed command against the run database,
 * writes its output and returns the exit code (0 done, 1 failed, 2 usage or unknown run; a resume
 * returns the graph run's code). cli/runs.ts imports this lazily after parsing, so `--help` and
 * usage errors load nothing heavy.
 */
import fs from "node:fs";
import path from "node:path";
import { DEFAULT_MAX_FILE_MB, DEFAULT_RUN_DB } from "../../config/defaults.ts";
import { isUserError, UserError } from "../../errors.ts";
import { RunDatabase, type RunRow } from "../../store/RunDatabase.ts";
import { terminalText } from "../../util/terminalText.ts";
import type { CommandIo } from "../graph/runGraphCommand.ts";
import type { RunsCommand } from "./parseRunsArgs.ts";
import { formatRunDetails, formatRunList, listRuns, showRun } from "./runsReport.ts";

type Command = Exclude<RunsCommand, { kind: "help" } | { kind: "error" }>;

export async function runRunsCommand(cmd: Command, io: CommandIo): Promise<number> {
  // Paths, skip reasons and quarantine reasons (model text among them) reach a terminal: no control or bidi character.
  const print: Print = (human, data) => io.stdout.write(cmd.json ? `${JSON.stringify(data)}\n` : `${terminalText(human)}\n`);
  // Looking at runs creates nothing: a database that is not there holds no runs.
  if (!fs.existsSync(path.resolve(cmd.db))) return noDatabase(cmd, io, print);
  const db = RunDatabase.open(path.resolve(cmd.db));
  const runs = new Runs(db, cmd);
  try {
    db.markDeadRuns();
    switch (cmd.kind) {
      case "list": {
        const items = listRuns(db);
        print(formatRunList(items), items);
        return 0;
      }
      case "show": {
        const d = showRun(db, cmd.id);
        if (!d) throw runs.noRun();
        print(formatRunDetails(d), d);
        return 0;
      }
      case "delete":
        deleteRun(runs, cmd.id, print);
        return 0;
      case "compact":
        compactRuns(runs, cmd.id, print);
        return 0;
      case "resume": {
        const r = runs.require(cmd.id);
        // The run opens the database itself (and takes its lock): this connection goes first.
        db.close();
        return resumeRun(r, cmd, io);
      }
    }
  } catch (e) {
    if (isUserError(e)) {
      io.stderr.write(`error [${e.code}]: ${e.message}\n${e.hint ? `${e.hint}\n` : ""}`);
      return e.code === "NO_RUN_TO_RESUME" || e.code === "USAGE" ? 2 : 1;
    }
    throw e;
  } finally {
    db.close();
  }
}

type Print = (human: string, data: unknown) => void;

function noDatabase(cmd: Command, io: CommandIo, print: Print): number {
  if (cmd.kind === "list") {
    print(`No run database at ${cmd.db} yet. Start a run with: npm run graph -- --input DIR${cmd.db === DEFAULT_RUN_DB ? "" : ` --db ${cmd.db}`}`, []);
    return 0;
  }
  io.stderr.write(`error [NO_RUN_TO_RESUME]: There is no run database at ${cmd.db}.\nPass the --db your runs used (default ${DEFAULT_RUN_DB}).\n`);
  return 2;
}

/** The run database as the commands ask it: a run by ID, or the error that there is none. */
class Runs {
  constructor(
    readonly db: RunDatabase,
    private readonly cmd: Command,
  ) {}

  noRun(): UserError {
    return new UserError(
      "NO_RUN_TO_RESUME",
      `There is no run ${"id" in this.cmd ? this.cmd.id : ""} in ${this.cmd.db}.`,
      "List the runs with `npm run runs -- list`.",
    );
  }

  require(id: string): RunRow {
    const r = this.db.getRun(id);
    if (!r) throw this.noRun();
    return r;
  }
}

function deleteRun(runs: Runs, id: string, print: Print): void {
  const r = runs.require(id);
  if (r.status === "running")
    throw new UserError("RUN_LOCKED", `Run ${r.id} is running (pid ${r.pid}).`, "Stop it first (Ctrl-C in its terminal), then delete it.");
  runs.db.deleteRun(r.id);
  print(`Deleted run ${r.id}. Its knowledge base in ${r.out} is untouched.`, { deleted: r.id });
}

function compactRuns(runs: Runs, id: string, print: Print): void {
  const targets = id === "--done" ? runs.db.listRuns().filter((r) => r.status === "done") : [runs.require(id)];
  const results: { id: string; before: number; after: number }[] = [];
  for (const r of targets) {
    if (r.status !== "done") throw new UserError("USAGE", `Run ${r.id} is ${r.status}; only finished runs can be compacted.`, "Resume it first, or delete it.");
    results.push({ id: r.id, ...runs.db.compactRun(r.id) });
  }
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  print(results.map((x) => `compacted ${x.id}: database ${kb(x.before)} -> ${kb(x.after)}`).join("\n") || "No finished runs to compact.", results);
}

/** Resumes the run as `npm run graph` would, with its recorded input and output; returns the graph run's exit code. */
async function resumeRun(r: RunRow, cmd: Extract<Command, { kind: "resume" }>, io: CommandIo): Promise<number> {
  const { runGraphCommand } = await import("../graph/runGraphCommand.ts");
  return runGraphCommand(
    {
      input: r.input,
      out: r.out,
      db: cmd.db,
      model: undefined,
      resume: true,
      runId: r.id,
      concurrency: cmd.concurrency,
      threads: cmd.threads,
      json: cmd.json,
      llmReview: true,
      maxFileMb: DEFAULT_MAX_FILE_MB,
      contextSize: undefined,
      modelsDir: undefined,
    },
    io,
  );
}

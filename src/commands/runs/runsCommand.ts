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
  const print = (human: string, data: unknown) => io.stdout.write(cmd.json ? `${JSON.stringify(data)}\n` : `${terminalText(human)}\n`);
  // Looking at runs creates nothing: a database that is not there holds no runs.
  if (!fs.existsSync(path.resolve(cmd.db))) {
    if (cmd.kind === "list") {
      print(`No run database at ${cmd.db} yet. Start a run with: npm run graph -- --input DIR${cmd.db === DEFAULT_RUN_DB ? "" : ` --db ${cmd.db}`}`, []);
      return 0;
    }
    io.stderr.write(`error [NO_RUN_TO_RESUME]: There is no run database at ${cmd.db}.\nPass the --db your runs used (default ${DEFAULT_RUN_DB}).\n`);
    return 2;
  }
  const db = RunDatabase.open(path.resolve(cmd.db));
  const noRun = () =>
    new UserError("NO_RUN_TO_RESUME", `There is no run ${"id" in cmd ? cmd.id : ""} in ${cmd.db}.`, "List the runs with `npm run runs -- list`.");
  const requireRun = (id: string): RunRow => {
    const r = db.getRun(id);
    if (!r) throw noRun();
    return r;
  };
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
        if (!d) throw noRun();
        print(formatRunDetails(d), d);
        return 0;
      }
      case "delete": {
        const r = requireRun(cmd.id);
        if (r.status === "running")
          throw new UserError("RUN_LOCKED", `Run ${r.id} is running (pid ${r.pid}).`, "Stop it first (Ctrl-C in its terminal), then delete it.");
        db.deleteRun(r.id);
        print(`Deleted run ${r.id}. Its knowledge base in ${r.out} is untouched.`, { deleted: r.id });
        return 0;
      }
      case "compact": {
        const targets = cmd.id === "--done" ? db.listRuns().filter((r) => r.status === "done") : [requireRun(cmd.id)];
        const results: { id: string; before: number; after: number }[] = [];
        for (const r of targets) {
          if (r.status !== "done")
            throw new UserError("USAGE", `Run ${r.id} is ${r.status}; only finished runs can be compacted.`, "Resume it first, or delete it.");
          results.push({ id: r.id, ...db.compactRun(r.id) });
        }
        const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
        print(results.map((x) => `compacted ${x.id}: database ${kb(x.before)} -> ${kb(x.after)}`).join("\n") || "No finished runs to compact.", results);
        return 0;
      }
      case "resume": {
        const r = requireRun(cmd.id);
        // The run opens the database itself (and takes its lock): this connection goes first.
        db.close();
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

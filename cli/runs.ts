#!/usr/bin/env node
/** `npm run runs -- list | show ID | resume ID | delete ID | compact ID|--done` */
import path from "node:path";
import { parseRunsArgs, RUNS_HELP } from "../src/commands/runs/parseRunsArgs.ts";
import { formatRunDetails, formatRunList, listRuns, showRun } from "../src/commands/runs/runsReport.ts";
import { isUserError, UserError } from "../src/errors.ts";
import { RunDatabase } from "../src/store/RunDatabase.ts";
import { processIo, readEnvOrExit } from "./processIo.ts";

async function main(): Promise<number> {
  const cmd = parseRunsArgs(process.argv.slice(2));
  if (cmd.kind === "help") {
    process.stdout.write(`${RUNS_HELP}\n`);
    return 0;
  }
  if (cmd.kind === "error") {
    process.stderr.write(`error: ${cmd.message}\n\n${RUNS_HELP}\n`);
    return 2;
  }
  const db = RunDatabase.open(path.resolve(cmd.db));
  const print = (human: string, data: unknown) => process.stdout.write(cmd.json ? `${JSON.stringify(data)}\n` : `${human}\n`);
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
        if (!d) throw new UserError("NO_RUN_TO_RESUME", `There is no run ${cmd.id} in ${cmd.db}.`, "List the runs with `npm run runs -- list`.");
        print(formatRunDetails(d), d);
        return 0;
      }
      case "delete": {
        const r = db.getRun(cmd.id);
        if (!r) throw new UserError("NO_RUN_TO_RESUME", `There is no run ${cmd.id} in ${cmd.db}.`, "List the runs with `npm run runs -- list`.");
        if (r.status === "running")
          throw new UserError("RUN_LOCKED", `Run ${r.id} is running (pid ${r.pid}).`, "Stop it first (Ctrl-C in its terminal), then delete it.");
        db.deleteRun(r.id);
        print(`Deleted run ${r.id}. Its knowledge base in ${r.out} is untouched.`, { deleted: r.id });
        return 0;
      }
      case "compact": {
        const targets = cmd.id === "--done" ? db.listRuns().filter((r) => r.status === "done") : [db.getRun(cmd.id)];
        const results: { id: string; before: number; after: number }[] = [];
        for (const r of targets) {
          if (!r) throw new UserError("NO_RUN_TO_RESUME", `There is no run ${cmd.id} in ${cmd.db}.`, "List the runs with `npm run runs -- list`.");
          if (r.status !== "done")
            throw new UserError("USAGE", `Run ${r.id} is ${r.status}; only finished runs can be compacted.`, "Resume it first, or delete it.");
          results.push({ id: r.id, ...db.compactRun(r.id) });
        }
        const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
        print(results.map((x) => `compacted ${x.id}: database ${kb(x.before)} -> ${kb(x.after)}`).join("\n") || "No finished runs to compact.", results);
        return 0;
      }
      case "resume": {
        const r = db.getRun(cmd.id);
        if (!r) throw new UserError("NO_RUN_TO_RESUME", `There is no run ${cmd.id} in ${cmd.db}.`, "List the runs with `npm run runs -- list`.");
        db.close();
        const { runGraphCommand } = await import("../src/commands/graph/runGraphCommand.ts");
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
            maxFileMb: 8,
            contextSize: undefined,
            modelsDir: undefined,
          },
          processIo(readEnvOrExit()),
        );
      }
    }
  } catch (e) {
    if (isUserError(e)) {
      process.stderr.write(`error [${e.code}]: ${e.message}\n${e.hint ? `${e.hint}\n` : ""}`);
      return e.code === "NO_RUN_TO_RESUME" || e.code === "USAGE" ? 2 : 1;
    }
    throw e;
  } finally {
    db.close();
  }
}

process.exitCode = await main();

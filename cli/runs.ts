#!/usr/bin/env node
/** Entry point of `npm run runs -- list | show ID | resume ID | delete ID | compact ID|--done`: a thin shell over the pure parser and runRunsCommand. */
import { parseRunsArgs, RUNS_HELP } from "../src/commands/runs/parseRunsArgs.ts";
import { processIo, readEnvOrExit } from "./processIo.ts";

const parsed = parseRunsArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${RUNS_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${parsed.message}\n\n${RUNS_HELP}\n`);
  process.exitCode = 2;
} else {
  const { runRunsCommand } = await import("../src/commands/runs/runsCommand.ts");
  process.exitCode = await runRunsCommand(parsed, processIo(readEnvOrExit()));
}

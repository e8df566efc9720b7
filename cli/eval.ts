#!/usr/bin/env node
/** Entry point of `npm run eval`: the pure parser, then runEvalCommand with runGraphCommand as the pipeline. */
import { EVAL_HELP, parseEvalArgs } from "../src/commands/eval/parseEvalArgs.ts";
import { processIo, readEnvOrExit } from "./processIo.ts";

const parsed = parseEvalArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${EVAL_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${parsed.message}\n\n${EVAL_HELP}\n`);
  process.exitCode = 2;
} else {
  const io = processIo(readEnvOrExit());
  const { runGraphCommand } = await import("../src/commands/graph/runGraphCommand.ts");
  const { runEvalCommand } = await import("../src/commands/eval/evalCommand.ts");
  process.exitCode = await runEvalCommand(parsed.options, io, (graphOptions) => runGraphCommand(graphOptions, io));
}

#!/usr/bin/env node
/** Entry point of `npm run graph`: a thin shell over the pure parser and runGraphCommand. */
import { GRAPH_HELP, parseGraphArgs } from "../src/commands/graph/parseGraphArgs.ts";
import { terminalText } from "../src/util/terminalText.ts";
import { processIo, readEnvOrExit } from "./processIo.ts";

const parsed = parseGraphArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${GRAPH_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${terminalText(parsed.message)}\n\n${GRAPH_HELP}\n`);
  process.exitCode = 2;
} else {
  const env = readEnvOrExit();
  if (parsed.options.watch) {
    const { runWatchCommand } = await import("../src/commands/graph/runWatchCommand.ts");
    process.exitCode = await runWatchCommand(parsed.options, processIo(env));
  } else {
    const { runGraphCommand } = await import("../src/commands/graph/runGraphCommand.ts");
    process.exitCode = await runGraphCommand(parsed.options, processIo(env));
  }
}

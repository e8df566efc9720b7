#!/usr/bin/env node
/** Entry point of `npm run models`: a thin shell over the pure parser and runModelsCommand. */
import { MODELS_HELP, parseModelsArgs } from "../src/commands/models/parseModelsArgs.ts";
import { processIo, readEnvOrExit } from "./processIo.ts";

const parsed = parseModelsArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${MODELS_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${parsed.message}\n\n${MODELS_HELP}\n`);
  process.exitCode = 2;
} else {
  const { runModelsCommand } = await import("../src/commands/models/runModelsCommand.ts");
  process.exitCode = await runModelsCommand(parsed, processIo(readEnvOrExit()));
}

#!/usr/bin/env node
/** Entry point of `npm run studio`: a thin shell over the pure parser and runStudioCommand. */
import { parseStudioArgs, STUDIO_HELP } from "../src/commands/studio/parseStudioArgs.ts";
import { terminalText } from "../src/util/terminalText.ts";
import { processIo, readEnvOrExit } from "./processIo.ts";

const parsed = parseStudioArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${STUDIO_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${terminalText(parsed.message)}\n\n${STUDIO_HELP}\n`);
  process.exitCode = 2;
} else {
  const env = readEnvOrExit();
  const { runStudioCommand } = await import("../src/commands/studio/runStudioCommand.ts");
  process.exitCode = await runStudioCommand(parsed.options, processIo(env));
}

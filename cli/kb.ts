#!/usr/bin/env node
/** Entry point of `npm run kb`: a thin shell over the pure parser and runKbCommand. */
import { KB_HELP, parseKbArgs } from "../src/commands/kb/parseKbArgs.ts";
import { terminalText } from "../src/util/terminalText.ts";
import { processIo, readEnvOrExit } from "./processIo.ts";

const parsed = parseKbArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${KB_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${terminalText(parsed.message)}\n\n${KB_HELP}\n`);
  process.exitCode = 2;
} else if (parsed.kind === "mcp") {
  const { runMcpCommand } = await import("../src/commands/kb/mcp/runMcpCommand.ts");
  const io = processIo(readEnvOrExit());
  process.exitCode = await runMcpCommand(parsed.options, { stdin: process.stdin, stdout: io.stdout, stderr: io.stderr, onSignal: io.onSignal });
} else {
  const { runKbCommand } = await import("../src/commands/kb/kbCommand.ts");
  process.exitCode = runKbCommand(parsed.options, { stdout: process.stdout, stderr: process.stderr });
}

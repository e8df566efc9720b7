#!/usr/bin/env node
/** Entry point of `npm run graph`: the command line (src/commands/commandLines.ts) on the real process. */
import { runCommandLine } from "../src/commands/commandLines.ts";
import { processIo, readEnvOrExit } from "./processIo.ts";

process.exitCode = await runCommandLine("graph", process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  io: () => processIo(readEnvOrExit()),
});

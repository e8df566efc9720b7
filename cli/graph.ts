#!/usr/bin/env node
/** Entry point of `npm run graph`: a thin shell over the pure parser and runGraphCommand. */
import { setMaxListeners } from "node:events";
import { GRAPH_HELP, parseGraphArgs } from "../src/cli/parseGraphArgs.ts";
import { readEnv } from "../src/config/env.ts";

// LangGraph adds one abort listener per Send task to the run's signal (langgraphjs#1014): with
// more than 10 files in flight Node would print a spurious leak warning.
setMaxListeners(1000);

const parsed = parseGraphArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${GRAPH_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${parsed.message}\n\n${GRAPH_HELP}\n`);
  process.exitCode = 2;
} else {
  let env: ReturnType<typeof readEnv>;
  try {
    env = readEnv();
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const { runGraphCommand } = await import("./runGraph.ts");
  process.exitCode = await runGraphCommand(parsed.options, {
    stdout: process.stdout,
    stderr: process.stderr,
    env,
    onSignal: (handler) => {
      process.on("SIGINT", handler);
      process.on("SIGTERM", handler);
      return () => {
        process.off("SIGINT", handler);
        process.off("SIGTERM", handler);
      };
    },
    exitNow: (code) => process.exit(code),
  });
}

#!/usr/bin/env node
/** Entry point of `npm run eval`: the pure parser, then runEvalCommand with runGraphCommand as the pipeline. */
import { setMaxListeners } from "node:events";
import { EVAL_HELP, parseEvalArgs } from "../src/cli/parseEvalArgs.ts";
import { readEnv } from "../src/config/env.ts";

// As in cli/graph.ts: one abort listener per Send task (langgraphjs#1014).
setMaxListeners(1000);

const parsed = parseEvalArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${EVAL_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${parsed.message}\n\n${EVAL_HELP}\n`);
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
  const { runEvalCommand } = await import("../src/eval/evalCommand.ts");
  const io = { stdout: process.stdout, stderr: process.stderr };
  process.exitCode = await runEvalCommand(parsed.options, io, (graphOptions) =>
    runGraphCommand(graphOptions, {
      ...io,
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
    }),
  );
}

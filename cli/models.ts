#!/usr/bin/env node
/** Entry point of `npm run models`: a thin shell over the pure parser and runModelsCommand. */
import { MODELS_HELP, parseModelsArgs } from "../src/cli/parseModelsArgs.ts";
import { readEnv } from "../src/config/env.ts";

const parsed = parseModelsArgs(process.argv.slice(2));
if (parsed.kind === "help") {
  process.stdout.write(`${MODELS_HELP}\n`);
} else if (parsed.kind === "error") {
  process.stderr.write(`error: ${parsed.message}\n\n${MODELS_HELP}\n`);
  process.exitCode = 2;
} else {
  let env: ReturnType<typeof readEnv> | undefined;
  try {
    env = readEnv();
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
  if (env) {
    const { runModelsCommand } = await import("../src/models/runModelsCommand.ts");
    process.exitCode = await runModelsCommand(parsed, {
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
    });
  }
}

/** The real process behind a command's I/O: stdout/stderr, the environment, signals, exit. */
import { setMaxListeners } from "node:events";
import { type Env, readEnv } from "../src/config/env.ts";

/**
 * Reads the environment once for a CLI entry point; a malformed variable is a usage error (exit 2).
 * Also raises the abort-listener limit: LangGraph adds one listener per Send task to a run's signal
 * (langgraphjs#1014), and with more than 10 files in flight Node would print a spurious leak warning.
 */
export function readEnvOrExit(): Env {
  setMaxListeners(1000);
  try {
    return readEnv();
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(2);
  }
}

export interface ProcessIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: Env;
  onSignal: (handler: (signal: NodeJS.Signals) => void) => () => void;
  exitNow: (code: number) => never;
}

export function processIo(env: Env): ProcessIo {
  return {
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
  };
}

/**
 * `npm run <name>` run inside the test's own process: the same command line (parser, help, runner:
 * src/commands/commandLines.ts) that cli/<name>.ts runs, with stdout and stderr captured and the exit
 * code the command returns. It saves a process start (~5 s of loading TypeScript and LangGraph) per
 * run, so tests use it wherever the process itself is not the point; signals, SIGKILL and two
 * processes side by side stay with startCli/runCli (test/helpers/cli.ts).
 */
import { Readable, Writable } from "node:stream";
import { type CommandName, runCommandLine } from "../../src/commands/commandLines.ts";
import { readEnv } from "../../src/config/env.ts";
import type { CliResult } from "./cli.ts";

class Captured extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs `name` with `args` in this process; `env` is laid over the process environment as startCli does. */
export async function runInProcess(name: Exclude<CommandName, "studio" | "kb">, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const stdout = new Captured();
  const stderr = new Captured();
  const env = readEnv({ ...process.env, NO_COLOR: "1", RUST_KB_BACKEND: "node-llama-cpp", ...options.env });
  const code = await runCommandLine(name, args, {
    stdin: Readable.from([]),
    stdout,
    stderr,
    io: () => ({
      stdout,
      stderr,
      env,
      onSignal: () => () => {},
      exitNow: (exit) => {
        throw new Error(`the command asked to exit at once (${exit}) in process`);
      },
    }),
  });
  return { code, signal: null, stdout: stdout.text, stderr: stderr.text, events: jsonLines(stdout.text) };
}

function jsonLines(text: string): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    try {
      const e = JSON.parse(line) as unknown;
      if (e && typeof e === "object" && !Array.isArray(e)) events.push(e as Record<string, unknown>);
    } catch {
      // not JSON
    }
  }
  return events;
}

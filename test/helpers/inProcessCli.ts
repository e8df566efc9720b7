/**
 * `npm run graph` and `npm run runs`, run inside the test's own process: the same parser and command
 * runner that cli/graph.ts and cli/runs.ts call, with stdout and stderr captured and the exit code the
 * command returns. It saves a process start (~5 s of loading TypeScript and LangGraph) per run, so
 * tests use it wherever the process itself is not the point; signals, SIGKILL and the entry files'
 * own behaviour stay with startCli/runCli (test/helpers/cli.ts).
 */
import { Writable } from "node:stream";
import { GRAPH_HELP, parseGraphArgs } from "../../src/commands/graph/parseGraphArgs.ts";
import type { CommandIo } from "../../src/commands/graph/runGraphCommand.ts";
import { parseRunsArgs, RUNS_HELP } from "../../src/commands/runs/parseRunsArgs.ts";
import { readEnv } from "../../src/config/env.ts";
import { terminalText } from "../../src/util/terminalText.ts";
import type { CliResult } from "./cli.ts";

class Captured extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs `name` (graph or runs) with `args` in this process; `env` is laid over the process environment as startCli does. */
export async function runInProcess(name: "graph" | "runs", args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const stdout = new Captured();
  const stderr = new Captured();
  const env = readEnv({ ...process.env, NO_COLOR: "1", RUST_KB_BACKEND: "node-llama-cpp", ...options.env });
  const io: CommandIo = {
    stdout,
    stderr,
    env,
    onSignal: () => () => {},
    exitNow: (code) => {
      throw new Error(`the command asked to exit at once (${code}) in process`);
    },
  };
  const code = name === "graph" ? await graph(args, io) : await runs(args, io);
  return { code, signal: null, stdout: stdout.text, stderr: stderr.text, events: jsonLines(stdout.text) };
}

async function graph(args: string[], io: CommandIo): Promise<number> {
  const parsed = parseGraphArgs(args);
  if (parsed.kind === "help") return said(io.stdout, `${GRAPH_HELP}\n`, 0);
  if (parsed.kind === "error") return said(io.stderr, `error: ${terminalText(parsed.message)}\n\n${GRAPH_HELP}\n`, 2);
  if (parsed.options.watch) throw new Error("--watch runs until stopped: test it as a process (test/model/watchCli.test.ts)");
  const { runGraphCommand } = await import("../../src/commands/graph/runGraphCommand.ts");
  return runGraphCommand(parsed.options, io);
}

async function runs(args: string[], io: CommandIo): Promise<number> {
  const parsed = parseRunsArgs(args);
  if (parsed.kind === "help") return said(io.stdout, `${RUNS_HELP}\n`, 0);
  if (parsed.kind === "error") return said(io.stderr, `error: ${parsed.message}\n\n${RUNS_HELP}\n`, 2);
  const { runRunsCommand } = await import("../../src/commands/runs/runsCommand.ts");
  return runRunsCommand(parsed, io);
}

function said(stream: NodeJS.WritableStream, text: string, code: number): number {
  stream.write(text);
  return code;
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

/**
 * The command lines of `npm run <name>`: each command's pure parser, its help, and its runner (imported
 * only when it runs, so `--help` and a usage error stay fast). cli/<name>.ts calls runCommandLine with
 * the real process; the tests call it in process with captured streams. Every command answers help
 * and usage errors the same way: help on stdout (exit 0), or the error and the help on stderr (exit 2).
 */
import type { Readable, Writable } from "node:stream";
import { EXIT } from "../errors.ts";
import { terminalText } from "../util/terminalText.ts";
import { EVAL_HELP, parseEvalArgs } from "./eval/parseEvalArgs.ts";
import { GRAPH_HELP, parseGraphArgs } from "./graph/parseGraphArgs.ts";
import type { CommandIo } from "./graph/runGraphCommand.ts";
import { KB_HELP, parseKbArgs } from "./kb/parseKbArgs.ts";
import { MODELS_HELP, parseModelsArgs } from "./models/parseModelsArgs.ts";
import { parseRunsArgs, RUNS_HELP } from "./runs/parseRunsArgs.ts";
import { parseStudioArgs, STUDIO_HELP } from "./studio/parseStudioArgs.ts";

/** What a command line writes to and reads from; `io` reads the environment (each runner calls it once, and only when it runs). */
export interface CommandLineIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  io: () => CommandIo;
}

type Usage = { kind: "help" } | { kind: "error"; message: string };

interface CommandLine<P extends { kind: string }> {
  parse: (argv: readonly string[]) => P;
  help: string;
  /** Runs what the parser returned when it was neither help nor a usage error. */
  run: (parsed: Exclude<P, Usage>, io: CommandLineIo) => Promise<number> | number;
}

/** Checks one command's parser against its runner, then forgets the parser's type for the table. */
const commandLine = <P extends { kind: string }>(c: CommandLine<P>) => c as unknown as CommandLine<{ kind: string }>;

export const COMMAND_LINES = {
  graph: commandLine({
    parse: parseGraphArgs,
    help: GRAPH_HELP,
    run: async (parsed, { io }) => {
      if (parsed.kind !== "run") return EXIT.usage;
      if (parsed.options.watch) return (await import("./graph/runWatchCommand.ts")).runWatchCommand(parsed.options, io());
      return (await import("./graph/runGraphCommand.ts")).runGraphCommand(parsed.options, io());
    },
  }),
  runs: commandLine({
    parse: parseRunsArgs,
    help: RUNS_HELP,
    run: async (parsed, { io }) => (await import("./runs/runsCommand.ts")).runRunsCommand(parsed, io()),
  }),
  kb: commandLine({
    parse: parseKbArgs,
    help: KB_HELP,
    run: async (parsed, { stdin, stdout, stderr, io }) => {
      if (parsed.kind === "mcp") {
        const { runMcpCommand } = await import("./kb/mcp/runMcpCommand.ts");
        return runMcpCommand(parsed.options, { stdin, stdout, stderr, onSignal: io().onSignal });
      }
      if (parsed.kind !== "run") return EXIT.usage;
      return (await import("./kb/kbCommand.ts")).runKbCommand(parsed.options, { stdout, stderr });
    },
  }),
  models: commandLine({
    parse: parseModelsArgs,
    help: MODELS_HELP,
    run: async (parsed, { io }) => (await import("./models/runModelsCommand.ts")).runModelsCommand(parsed, io()),
  }),
  studio: commandLine({
    parse: parseStudioArgs,
    help: STUDIO_HELP,
    run: async (parsed, { io }) => (await import("./studio/runStudioCommand.ts")).runStudioCommand(parsed.options, io()),
  }),
  eval: commandLine({
    parse: parseEvalArgs,
    help: EVAL_HELP,
    run: async (parsed, { io }) => {
      const commandIo = io();
      const { runGraphCommand } = await import("./graph/runGraphCommand.ts");
      const { runEvalCommand } = await import("./eval/evalCommand.ts");
      return runEvalCommand(parsed.options, commandIo, (graphOptions) => runGraphCommand(graphOptions, commandIo));
    },
  }),
};

export type CommandName = keyof typeof COMMAND_LINES;

/** Parses argv and runs the command; resolves to its exit code. */
export async function runCommandLine(name: CommandName, argv: readonly string[], io: CommandLineIo): Promise<number> {
  const line = COMMAND_LINES[name];
  const parsed = line.parse(argv);
  if (parsed.kind === "help") {
    io.stdout.write(`${line.help}\n`);
    return EXIT.done;
  }
  if (parsed.kind === "error") {
    io.stderr.write(`error: ${terminalText((parsed as Usage & { kind: "error" }).message)}\n\n${line.help}\n`);
    return EXIT.usage;
  }
  return line.run(parsed, io);
}

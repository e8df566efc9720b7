/**
 * The programmatic side of `npm run models`: runs one parsed command, writes its output, and
 * returns the exit code (0 done, 1 failed, 130 interrupted). cli/models.ts imports this lazily
 * after parsing, so `--help` and usage errors load nothing heavy.
 */
import os from "node:os";
import path from "node:path";
import type { Env } from "../../config/env.ts";
import { isAbortError, isUserError, UserError } from "../../errors.ts";
import { type BackendChoice, cudaLikely, parseBackendChoice } from "../../llm/chooseBackend.ts";
import { createEngineChooser, type EngineChooserOptions } from "../../llm/engineChooser.ts";
import { DEFAULT_MEMORY_SHARE, formatBytes } from "../../llm/memoryPlan.ts";
import { defaultModelsDir } from "../../llm/resolveModel.ts";
import { machineThreads } from "../../llm/threads.ts";
import { CATALOG_PATH, loadCatalog } from "./catalog.ts";
import { formatInspect, inspectModel, resolveInspectTarget } from "./inspect.ts";
import { formatList, listModels, stagingDirectory } from "./list.ts";
import type { ModelsParseResult } from "./parseModelsArgs.ts";
import { formatPlan, planModels } from "./plan.ts";
import { createProgressWriter } from "./progress.ts";
import { pullModel } from "./pull.ts";

export interface ModelsIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Env;
  /** Subscribe to SIGINT/SIGTERM; returns an unsubscribe function. */
  onSignal: (handler: (signal: NodeJS.Signals) => void) => () => void;
  /** Another catalog file (tests). */
  catalogPath?: string;
  /** Test hook for pull: checks that the download host answers. */
  probe?: (url: string, timeoutMs: number) => Promise<boolean>;
  stallTimeoutMs?: number;
  /** How `plan` finds the engine a run would start (tests pass a fake llama-server; default: the run's own search, from `env`). */
  engine?: Partial<EngineChooserOptions>;
}

type Command = Exclude<ModelsParseResult, { kind: "help" } | { kind: "error" }>;

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = "AbortError";
  }
}

function json(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? Number(v) : v), 2);
}

export async function runModelsCommand(command: Command, io: ModelsIo): Promise<number> {
  const directory = path.resolve(command.options.dir ?? io.env.modelsDir ?? defaultModelsDir());
  try {
    const catalog = loadCatalog(io.catalogPath ?? CATALOG_PATH);
    switch (command.kind) {
      case "list": {
        const report = await listModels(catalog, directory);
        io.stdout.write(`${command.options.json ? json(report) : formatList(report)}\n`);
        return 0;
      }
      case "pull":
        return await runPull(command.options, catalog, directory, io);
      case "inspect": {
        const o = command.options;
        const { file, entry } = await resolveInspectTarget(o.target, catalog, directory);
        const llama = o.cpu ? undefined : await (await import("../../llm/LlamaBackend.ts")).openLlama({ maxThreads: machineThreads(), gpu: "auto" });
        try {
          const report = await inspectModel(file, { contextSize: o.contextSize, agents: o.agents, llama, entry });
          io.stdout.write(`${o.json ? json(report) : formatInspect(report)}\n`);
        } finally {
          await llama?.dispose();
        }
        return 0;
      }
      case "plan": {
        const o = command.options;
        // The run's admission default (src/llm/ModelPool.ts): a share of the memory free now.
        const free = os.freemem();
        const budgetBytes = o.memoryBytes ?? Math.floor(free * DEFAULT_MEMORY_SHARE);
        // The engine a run would start: --backend, else RUST_KB_BACKEND, else auto (the run's rule).
        const requested: BackendChoice = o.backend ?? (io.env.backend !== undefined ? (parseBackendChoice(io.env.backend) ?? "auto") : "auto");
        const engine = await createEngineChooser({
          llamaServerBin: io.env.llamaServerBin,
          search: { cacheRoot: io.env.llamaCppCache },
          cudaLikely: cudaLikely(io.env.gpu),
          ...io.engine,
        })(requested);
        const report = await planModels(o.models, {
          catalog,
          directory,
          agents: o.agents,
          contextSize: o.contextSize,
          minContextSize: o.minContextSize,
          budgetBytes,
          budgetSource: o.memoryText !== undefined ? `--memory ${o.memoryText}` : `${Math.round(DEFAULT_MEMORY_SHARE * 100)}% of ${formatBytes(free)} free RAM`,
          reserveBytes: o.reserveBytes,
          benchDir: path.resolve(o.benchDir),
          engine,
        });
        io.stdout.write(`${o.json ? json(report) : formatPlan(report)}\n`);
        return 0;
      }
    }
  } catch (e) {
    if (isUserError(e)) {
      io.stderr.write(`error [${e.code}]: ${e.message}\n${e.hint ? `${e.hint}\n` : ""}`);
      return 1;
    }
    throw e;
  }
}

async function runPull(
  options: Extract<Command, { kind: "pull" }>["options"],
  catalog: ReturnType<typeof loadCatalog>,
  directory: string,
  io: ModelsIo,
): Promise<number> {
  const abort = new AbortController();
  const unsubscribe = io.onSignal((signal) => abort.abort(new Interrupted(signal)));
  const bar = createProgressWriter(io.stderr);
  const say = (line: string) => io.stderr.write(`${line}\n`);
  try {
    const result = await pullModel(options.target, {
      catalog,
      directory,
      checksum: options.checksum,
      signal: abort.signal,
      offline: io.env.offline,
      probe: io.probe,
      stallTimeoutMs: io.stallTimeoutMs,
      onStart: ({ fileName, totalBytes, resumedFromBytes }) => {
        say(`Downloading ${fileName} (${formatBytes(totalBytes)}) to ${directory}`);
        if (resumedFromBytes > 0) say(`Resuming: ${formatBytes(resumedFromBytes)} were already downloaded.`);
      },
      onProgress: (s) => bar.update(s),
      onHashing: () => {
        bar.done();
        say("Verifying sha256...");
      },
    });
    bar.done();
    if (options.json) io.stdout.write(`${json(result)}\n`);
    else {
      io.stdout.write(
        `${result.alreadyPresent ? "Already downloaded" : "Downloaded"}: ${result.path} (${formatBytes(result.bytes)})${result.entry ? ` [${result.entry.name}]` : ""}\n` +
          result.checks.map((c) => `  checked: ${c}\n`).join("") +
          result.warnings.map((w) => `  warning: ${w}\n`).join(""),
      );
    }
    return 0;
  } catch (e) {
    bar.done();
    if (abort.signal.aborted && (isAbortError(e) || e instanceof Interrupted)) {
      say(`\nInterrupted. The partial download is kept in ${stagingDirectory(directory)}; run the same command again to resume.`);
      return 130;
    }
    if (isUserError(e)) throw e;
    throw new UserError("MODEL_DOWNLOAD_FAILED", `Pulling ${options.target} failed: ${(e as Error).message}`, "Run the same command again to resume.", {
      cause: e,
    });
  } finally {
    unsubscribe();
  }
}

/**
 * `npm run graph`: checks the input, resolves and loads the model, then runs (or resumes) the
 * pipeline graph with SQLite checkpoints, reporting progress and a final summary.
 */
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { buildPipelineGraph } from "../graphs/pipelineGraph.ts";
import type { PipelineSettings } from "../nodes/deps.ts";
import type { GraphOptions } from "../src/cli/parseGraphArgs.ts";
import { buildSummary, countVerification, formatSummary, type RunSummary, resumeCommand } from "../src/cli/summary.ts";
import type { Env } from "../src/config/env.ts";
import { fsErrorToUserError, isUserError, UserError } from "../src/errors.ts";
import { LlamaModelBackend, openLlama } from "../src/model/LlamaBackend.ts";
import { DEFAULT_MODEL, resolveModel } from "../src/model/resolveModel.ts";
import { DEFAULT_AGENT_COUNTS, ROLES } from "../src/model/roles.ts";
import { machineThreads } from "../src/model/threads.ts";
import { Reporter } from "../src/progress/Reporter.ts";
import { PromptLibrary } from "../src/prompts/PromptLibrary.ts";
import { defaultDocsIndexPath, openResearch } from "../src/research/openResearch.ts";
import { RunDatabase, type RunRow } from "../src/store/RunDatabase.ts";
import { CodeCheckCache } from "../src/validate/CodeCheckCache.ts";
import { RustChecker } from "../src/validate/rustCheck.ts";
import { createServices, settingsHash } from "./services.ts";

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env: Env;
  /** Subscribe to SIGINT/SIGTERM; returns an unsubscribe function. */
  onSignal: (handler: (signal: NodeJS.Signals) => void) => () => void;
  /** Exit immediately (second Ctrl-C). */
  exitNow: (code: number) => never;
}

export const DEFAULT_CONTEXT_SIZE = 4096;

/** What a run remembers so `--resume` continues it with the same model and settings. */
interface RecordedOptions {
  model: string;
  contextSize: number;
  llmReview: boolean;
  maxFileBytes: number;
}

export async function runGraphCommand(options: GraphOptions, io: CommandIo): Promise<number> {
  const started = Date.now();
  const reporter = new Reporter({ err: io.stderr, out: io.stdout, json: options.json });
  let db: RunDatabase | undefined;
  let run: RunRow | undefined;
  let summary: RunSummary | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  const abort = new AbortController();
  // Every waiting LLM call and file slot listens on this one signal.
  setMaxListeners(0, abort.signal);
  let interrupted: NodeJS.Signals | undefined;
  const unsubscribe = io.onSignal((signal) => {
    if (interrupted) {
      io.stderr.write(`\nSecond ${signal}: exiting now. Finished work is saved; resume with --resume.\n`);
      if (db && run) db.setRunStatus(run.id, "interrupted", { endedAt: new Date().toISOString(), pid: null });
      io.exitNow(130);
    }
    interrupted = signal;
    reporter.say(`\n${signal} received: stopping. Calls in flight are dropped; every finished step is saved. (Press Ctrl-C again to exit at once.)`);
    abort.abort(new InterruptedError(signal));
  });

  try {
    const input = path.resolve(options.input);
    const out = path.resolve(options.out);
    const dbPath = path.resolve(options.db);
    checkDirectories(input, out);
    db = RunDatabase.open(dbPath);
    const openDb = db;
    cleanups.push(() => openDb.close());

    const active = findActiveRun(db, out);
    if (active)
      throw new UserError(
        "RUN_LOCKED",
        `Run ${active.id} (pid ${active.pid}) is writing to ${out} right now.`,
        "Wait for it to finish, stop it (Ctrl-C in its terminal), or choose another --out.",
      );

    let recorded: RecordedOptions;
    if (options.resume) {
      run = db.latestUnfinished(input, out);
      if (!run)
        throw new UserError(
          "NO_RUN_TO_RESUME",
          `There is no unfinished run for --input ${input} and --out ${out} in ${dbPath}.`,
          "Run the same command without --resume to start one.",
        );
      recorded = JSON.parse(run.settings).options as RecordedOptions;
      if (options.model && options.model !== recorded.model)
        throw new UserError(
          "USAGE",
          `Run ${run.id} was started with --model ${recorded.model}; resuming it with another model would redo its work.`,
          "Resume without --model (it reuses the run's model), or start a new run without --resume.",
        );
    } else {
      recorded = {
        model: options.model ?? io.env.model ?? DEFAULT_MODEL.uri,
        contextSize: options.contextSize ?? DEFAULT_CONTEXT_SIZE,
        llmReview: options.llmReview,
        maxFileBytes: options.maxFileMb * 1024 * 1024,
      };
    }

    // The model is resolved before any work: offline with no model file, nothing is processed.
    const modelPath = await resolveModel(recorded.model, {
      modelsDir: options.modelsDir ?? io.env.modelsDir,
      offline: io.env.offline,
      signal: abort.signal,
      onProgress: (p) => reporter.handle({ type: "download_progress", model: recorded.model, downloadedBytes: p.downloadedBytes, totalBytes: p.totalBytes }),
    });
    reporter.start();

    const totalAgents = ROLES.reduce((a, r) => a + DEFAULT_AGENT_COUNTS[r], 0);
    const concurrency = Math.min(options.concurrency ?? totalAgents, totalAgents);
    const threads = options.threads ?? io.env.threads ?? machineThreads();
    const roleCaps = Object.fromEntries(ROLES.map((r) => [r, Math.min(DEFAULT_AGENT_COUNTS[r], concurrency)]));

    reporter.handle({ type: "model_loading", model: path.basename(modelPath) });
    const loadStart = Date.now();
    const llama = await openLlama({ maxThreads: threads });
    cleanups.push(() => llama.dispose());
    const backend = await LlamaModelBackend.load(llama, { modelPath, sequences: concurrency, contextSize: recorded.contextSize, threads, roleCaps });
    cleanups.push(() => backend.dispose());
    reporter.handle({
      type: "model_loaded",
      model: path.basename(modelPath),
      sequences: concurrency,
      contextSize: backend.contextTokens,
      threads,
      ms: Date.now() - loadStart,
    });
    if (abort.signal.aborted) throw abort.signal.reason;

    const prompts = PromptLibrary.load();
    const settings: Partial<PipelineSettings> = { llmReview: recorded.llmReview };
    const research = await openResearch({
      names: options.research,
      libraries: options.libraries,
      docsIndex: options.docsIndex ?? defaultDocsIndexPath(dbPath),
      tavily: { includeDomains: options.tavilyIncludeDomains, excludeDomains: options.tavilyExcludeDomains },
      env: io.env,
      db,
      forbiddenDirs: [input, out],
      events: (e) => reporter.handle(e),
      signal: abort.signal,
    });
    cleanups.push(() => research.close());
    const codeCheck = new RustChecker({ cache: new CodeCheckCache(db.db), forbiddenDirs: [input, out] });
    const services = createServices({
      db,
      backendFor: () => backend,
      events: (e) => reporter.handle(e),
      settings,
      prompts,
      research: research.providers,
      codeCheck,
    });
    cleanups.push(() => services.close());
    const hash = settingsHash(backend.modelId, prompts, services.deps.settings);

    const resumed = run !== undefined;
    if (!run) {
      const id = newRunId();
      db.createRun({
        id,
        input,
        out,
        model: backend.modelId,
        settings: JSON.stringify({ hash, options: recorded }),
        startedAt: new Date().toISOString(),
        pid: process.pid,
      });
      run = db.getRun(id);
    } else {
      db.setRunStatus(run.id, "running", { pid: process.pid });
    }
    if (!run) throw new Error("run row missing after insert");
    const runId = run.id;
    reporter.handle({ type: "run_started", runId, input, out, model: backend.modelId, resumed });

    const checkpointer = new SqliteSaver(db.db);
    const graph = buildPipelineGraph(services.deps, { concurrency, checkpointer });
    const config = { configurable: { thread_id: runId }, signal: abort.signal, recursionLimit: 500, durability: "sync" as const };
    const existing = await graph.getState({ configurable: { thread_id: runId } });
    const hasCheckpoint = existing.config?.configurable?.checkpoint_id !== undefined;
    const graphInput = hasCheckpoint
      ? null
      : { inputDir: input, outDir: out, exclude: [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, out], maxFileBytes: recorded.maxFileBytes };

    let status: RunSummary["status"] = "done";
    let error: UserError | undefined;
    try {
      await graph.invoke(graphInput, config);
      if (interrupted) status = "interrupted";
    } catch (e) {
      if (interrupted) status = "interrupted";
      else {
        status = "failed";
        error = toUserError(e);
      }
    }
    db.setRunStatus(runId, status, { endedAt: status === "done" ? new Date().toISOString() : null, pid: null });
    summary = buildSummary({
      status,
      runId,
      db,
      kbEntries: services.deps.kb(out).entries().length,
      verification: countVerification(services.deps.kb(out).contributions(), services.deps.kb(out).quarantined().length),
      counters: services.deps.llm.counters,
      wallMs: Date.now() - started,
      resume: status === "done" ? null : resumeCommand(options.input, options.out, options.db),
      out,
      error,
    });
    db.setRunStatus(runId, status, { summary: JSON.stringify(summary) });
    return finish(summary, status === "done" ? 0 : status === "interrupted" ? 130 : 1);
  } catch (e) {
    const err = interrupted ? undefined : toUserError(e);
    const status: RunSummary["status"] = interrupted ? "interrupted" : "failed";
    if (db && run) db.setRunStatus(run.id, status, { pid: null });
    summary = {
      type: "summary",
      status,
      runId: run?.id ?? null,
      files: { found: 0, processed: 0, skipped: 0, quarantined: 0, pending: 0 },
      skipped: [],
      quarantinedFiles: [],
      patterns: 0,
      llm: { calls: 0, tokens: 0, inputTokens: 0, memoHits: 0 },
      wallMs: Date.now() - started,
      resume: run ? resumeCommand(options.input, options.out, options.db) : null,
      out: path.resolve(options.out),
      ...(err ? { error: { code: err.code, message: err.message, hint: err.hint ?? null } } : {}),
    };
    const code = interrupted
      ? 130
      : err?.code === "USAGE" ||
          err?.code === "INPUT_NOT_FOUND" ||
          err?.code === "INPUT_NOT_DIRECTORY" ||
          err?.code === "OUTPUT_INSIDE_INPUT" ||
          err?.code === "NO_RUN_TO_RESUME"
        ? 2
        : 1;
    return finish(summary, code);
  } finally {
    unsubscribe();
    reporter.stop();
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort: the run's state is already saved
      }
    }
  }

  function finish(s: RunSummary, code: number): number {
    reporter.stop();
    io.stderr.write(`${formatSummary(s)}\n`);
    if (options.json) io.stdout.write(`${JSON.stringify(s)}\n`);
    return code;
  }
}

class InterruptedError extends Error {
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
    this.name = "AbortError";
  }
}

function checkDirectories(input: string, out: string): void {
  const st = fs.statSync(input, { throwIfNoEntry: false });
  if (!st)
    throw new UserError(
      "INPUT_NOT_FOUND",
      `The input directory ${input} does not exist.`,
      "Pass --input with a directory of .md, .txt or .json research files.",
    );
  if (!st.isDirectory()) throw new UserError("INPUT_NOT_DIRECTORY", `--input ${input} is a file, not a directory.`, "Pass the directory that contains it.");
  const rel = path.relative(out, input);
  if (out === input || (!rel.startsWith("..") && !path.isAbsolute(rel)))
    throw new UserError(
      "OUTPUT_INSIDE_INPUT",
      `--out ${out} would contain the input directory ${input}.`,
      "Choose an --out directory outside the input, for example ./kb.",
    );
}

function findActiveRun(db: RunDatabase, out: string): RunRow | undefined {
  for (const r of db.listRuns()) {
    if (r.out !== out || r.status !== "running" || r.pid === null) continue;
    if (r.pid === process.pid) continue;
    if (isAlive(r.pid)) return r;
    // The process died without updating its row (SIGKILL, power loss): the run is resumable.
    db.setRunStatus(r.id, "interrupted", { pid: null });
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function newRunId(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `run-${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}-${randomBytes(3).toString("hex")}`;
}

/** Finds the user-facing meaning of an error, however deep LangGraph wrapped it. */
export function toUserError(e: unknown): UserError {
  for (let cur: unknown = e, depth = 0; cur && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (isUserError(cur)) return cur;
    const fsErr = fsErrorToUserError(cur, "the knowledge base or checkpoint");
    if (fsErr) return fsErr;
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new UserError(
    "MODEL_GENERATION_FAILED",
    `The run stopped on an unexpected error: ${msg}`,
    "Finished work is saved: fix the cause and resume with --resume. If it repeats, report it with this message.",
    { cause: e },
  );
}

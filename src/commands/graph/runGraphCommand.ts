/**
 * `npm run graph`: checks the input, resolves and loads the model, then runs (or resumes) the
 * pipeline graph with SQLite checkpoints, reporting progress and a final summary.
 */
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import fs from "node:fs";
import path from "node:path";
import type { Llama } from "node-llama-cpp";
import { buildPipelineGraph } from "../../../graphs/pipelineGraph.ts";
import { DEFAULT_SETTINGS, type PipelineSettings } from "../../../nodes/deps.ts";
import { type AgentsConfig, applyOverrides, loadAgentsConfig, parseAgentsConfig } from "../../config/agentsConfig.ts";
import type { Env } from "../../config/env.ts";
import { describeError, errorNode, fsErrorToUserError, isUserError, UserError } from "../../errors.ts";
import { KnowledgeBase } from "../../kb/KnowledgeBase.ts";
import { writeSite } from "../../kb/site/writeSite.ts";
import { openLlama } from "../../llm/LlamaBackend.ts";
import { freeMemoryFor, openPool, planPool } from "../../llm/ModelPool.ts";
import { DEFAULT_MODEL, resolveModel } from "../../llm/resolveModel.ts";
import { ROLES } from "../../llm/roles.ts";
import { machineThreads, threadpoolAdvice } from "../../llm/threads.ts";
import type { PipelineEvent } from "../../progress/events.ts";
import { Reporter } from "../../progress/Reporter.ts";
import { PromptLibrary } from "../../prompts/PromptLibrary.ts";
import { defaultDocsIndexPath, openResearch } from "../../research/openResearch.ts";
import { createServices, settingsHash } from "../../run/createServices.ts";
import { buildSummary, countVerification, formatSummary, type RunSummary, resumeCommand } from "../../run/summary.ts";
import type { LedgerSettings } from "../../store/Ledger.ts";
import { OutputLock } from "../../store/OutputLock.ts";
import { RunDatabase, type RunRow } from "../../store/RunDatabase.ts";
import { parseFaults, setNodeFault, withModelFault } from "../../testing/faults.ts";
import { setWriteFault } from "../../util/atomicWrite.ts";
import { terminalText } from "../../util/terminalText.ts";
import { CodeCheckCache } from "../../validate/CodeCheckCache.ts";
import { RustChecker } from "../../validate/rustCheck.ts";
import type { GraphOptions } from "./parseGraphArgs.ts";

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env: Env;
  /** Subscribe to SIGINT/SIGTERM; returns an unsubscribe function. */
  onSignal: (handler: (signal: NodeJS.Signals) => void) => () => void;
  /** Exit immediately (second Ctrl-C). */
  exitNow: (code: number) => never;
  /** Also receives every progress event (the benchmark measures model-busy time with it). */
  onEvent?: (event: PipelineEvent) => void;
}

/** What a run remembers so `--resume` continues it with the same models and settings. */
interface RecordedOptions {
  /** The run's default model (roles whose config source is null). */
  model: string;
  /** The agents configuration after command-line overrides. */
  agents: AgentsConfig;
  llmReview: boolean;
  maxFileBytes: number;
  /** `--max-tokens`: per-role generation limits over the defaults (absent: the defaults). */
  maxTokens?: GraphOptions["maxTokens"];
}

export async function runGraphCommand(options: GraphOptions, io: CommandIo): Promise<number> {
  const started = Date.now();
  const reporter = new Reporter({ err: io.stderr, out: io.stdout, json: options.json });
  let db: RunDatabase | undefined;
  let run: RunRow | undefined;
  let runId: string | undefined;
  let summary: RunSummary | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  const abort = new AbortController();
  // Every waiting LLM call and file slot listens on this one signal.
  setMaxListeners(0, abort.signal);
  let interrupted: NodeJS.Signals | undefined;
  const unsubscribe = io.onSignal((signal) => {
    if (interrupted) {
      io.stderr.write(`\nSecond ${signal}: exiting now. Finished work is saved; resume with --resume.\n`);
      if (db && runId) db.setRunStatus(runId, "interrupted", { endedAt: new Date().toISOString(), pid: null });
      io.exitNow(130);
    }
    interrupted = signal;
    reporter.say(`\n${signal} received: stopping. Calls in flight are dropped; every finished step is saved. (Press Ctrl-C again to exit at once.)`);
    abort.abort(new InterruptedError(signal));
  });
  const resumeHint = () => resumeCommand(options.input, options.out, options.db);
  const emit = (e: PipelineEvent) => {
    reporter.handle(e);
    io.onEvent?.(e);
  };

  try {
    const input = path.resolve(options.input);
    const out = path.resolve(options.out);
    const dbPath = path.resolve(options.db);
    checkDirectories(input, out, options.forceOut === true);
    db = RunDatabase.open(dbPath);
    const openDb = db;
    cleanups.push(() => openDb.close());
    db.markDeadRuns();

    let recorded: RecordedOptions;
    if (options.resume || options.runId) {
      run = options.runId ? db.getRun(options.runId) : db.latestUnfinished(input, out);
      if (!run)
        throw new UserError(
          "NO_RUN_TO_RESUME",
          options.runId ? `There is no run ${options.runId} in ${dbPath}.` : `There is no unfinished run for --input ${input} and --out ${out} in ${dbPath}.`,
          options.runId ? "List the runs with `npm run runs -- list`." : "Run the same command without --resume to start one.",
        );
      if (run.status === "done") throw new UserError("NO_RUN_TO_RESUME", `Run ${run.id} already finished.`, "Start a new run without --resume.");
      recorded = JSON.parse(run.settings).options as RecordedOptions;
      // Runs recorded before a config field existed get its default.
      recorded.agents = parseAgentsConfig(recorded.agents, `the agents config recorded with run ${run.id}`);
      if (options.model && options.model !== recorded.model)
        throw new UserError(
          "USAGE",
          `Run ${run.id} was started with --model ${recorded.model}; resuming it with another model would redo its work.`,
          "Resume without --model (it reuses the run's model), or start a new run without --resume.",
        );
      // The servers of a resumed run may have moved: --endpoint replaces them (the model behind them is checked by identity).
      if (options.endpoints?.length) {
        const remote = Object.values(recorded.agents.models).filter((m) => m.endpoint !== undefined);
        if (remote.length === 0)
          throw new UserError(
            "USAGE",
            `Run ${run.id} runs its models in this process; --endpoint cannot move it to a model server.`,
            "Resume without --endpoint, or start a new run.",
          );
        for (const m of remote) m.endpoint = options.endpoints.length === 1 ? options.endpoints[0] : [...options.endpoints];
      }
      runId = run.id;
    } else {
      const base = loadAgentsConfig(options.agentsConfig ? path.resolve(options.agentsConfig) : undefined);
      recorded = {
        model: options.model ?? io.env.model ?? DEFAULT_MODEL.uri,
        agents: applyOverrides(base, {
          agents: options.agents,
          roleModels: options.roleModels,
          contextSize: options.contextSize,
          memoryBudget: options.memoryBudget,
          backend: options.backend,
          endpoints: options.endpoints,
          endpointModel: options.endpointModel,
          apiKeyEnv: options.apiKeyEnv,
          endpointSlots: options.endpointSlots,
        }),
        llmReview: options.llmReview,
        ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
        maxFileBytes: options.maxFileMb * 1024 * 1024,
      };
      runId = newRunId();
    }

    // One writer per output directory; taking the lock also proves the directory is writable.
    const lock = OutputLock.acquire(out, { runId, db: dbPath }, { breakLock: options.breakLock === true });
    cleanups.push(() => lock.release());

    // Models are resolved before any work: offline with no model file, nothing is processed.
    const resolveSource = (source: string | null) =>
      resolveModel(source ?? recorded.model, {
        modelsDir: options.modelsDir ?? io.env.modelsDir,
        offline: io.env.offline,
        signal: abort.signal,
        onProgress: (p) => emit({ type: "download_progress", model: source ?? recorded.model, downloadedBytes: p.downloadedBytes, totalBytes: p.totalBytes }),
      });
    const threads = options.threads ?? io.env.threads ?? machineThreads();
    // llama.cpp starts only when a model runs in this process: a run on model servers never loads it.
    let llama: Llama | undefined;
    const getLlama = async (): Promise<Llama> => {
      if (llama) return llama;
      const opened = await openLlama({ maxThreads: threads, gpu: io.env.gpu });
      llama = opened;
      cleanups.push(() => opened.dispose());
      const threadpoolNote = threadpoolAdvice(io.env, opened.gpu !== false);
      if (threadpoolNote) emit({ type: "message", level: "warn", text: threadpoolNote });
      return opened;
    };
    const plan = await planPool(recorded.agents, {
      uvThreadpoolSize: io.env.uvThreadpoolSize,
      resolveSource,
      concurrency: options.concurrency,
      threads,
      freeMemory: async () => freeMemoryFor(await getLlama()),
      // "auto" backends: llama-server when found (RUST_KB_LLAMA_SERVER first), RUST_KB_BACKEND overriding.
      ...(io.env.llamaServerBin !== undefined ? { llamaServerBin: io.env.llamaServerBin } : {}),
      ...(io.env.backend !== undefined ? { defaultBackend: io.env.backend } : {}),
    });
    if (plan.fit.outcome !== "fits") emit({ type: "message", level: "warn", text: `memory budget (${plan.budgetSource}): ${plan.arithmetic.join("; ")}` });
    reporter.start();
    const modelName = (m: (typeof plan.models)[number]) => (m.backend === "endpoint" ? m.label : path.basename(m.path));
    for (const m of plan.models) {
      if (m.backendReason) emit({ type: "message", level: "info", text: `${modelName(m)}: ${m.backendReason}` });
      emit({ type: "model_loading", model: modelName(m) });
    }
    const loadStart = Date.now();
    const pool = await openPool(getLlama, plan, {
      llamaServerBin: io.env.llamaServerBin,
      secret: io.env.secret,
      onMessage: (level, text) => emit({ type: "message", level, text }),
    });
    cleanups.push(() => pool.dispose());
    for (const [i, m] of plan.models.entries())
      emit({
        type: "model_loaded",
        model: `${modelName(m)} (${m.roles.join(", ")})`,
        // Model servers may offer fewer slots than the plan's sequences: report what the backend got.
        sequences: (pool.backends[i] as { scheduler?: { slots: number } } | undefined)?.scheduler?.slots ?? m.sequences,
        contextSize: pool.backends[i]?.contextTokens ?? m.contextSize,
        threads: m.threads,
        ms: Date.now() - loadStart,
      });
    if (abort.signal.aborted) throw abort.signal.reason;
    const faults = parseFaults(io.env.testFaults);
    const backendFor = faults.model ? withModelFault(pool.backendFor, faults.model) : pool.backendFor;
    if (faults.write) setWriteFault(faults.write);
    setNodeFault(faults.node);

    const prompts = PromptLibrary.load();
    const settings: Partial<PipelineSettings> = {
      llmReview: recorded.llmReview,
      // Part of the settings hash: other limits re-process the files.
      ...(recorded.maxTokens ? { maxTokens: { ...DEFAULT_SETTINGS.maxTokens, ...recorded.maxTokens } } : {}),
    };
    const research = await openResearch({
      names: options.research,
      libraries: options.libraries,
      docsIndex: options.docsIndex ?? defaultDocsIndexPath(dbPath),
      tavily: { includeDomains: options.tavilyIncludeDomains, excludeDomains: options.tavilyExcludeDomains },
      env: io.env,
      db,
      forbiddenDirs: [input, out],
      events: emit,
      signal: abort.signal,
    });
    cleanups.push(() => research.close());
    const codeCheck = new RustChecker({ cache: new CodeCheckCache(db.db), forbiddenDirs: [input, out] });
    const services = createServices({
      db,
      backendFor,
      events: emit,
      settings,
      prompts,
      research: research.providers,
      codeCheck,
    });
    cleanups.push(() => services.close());
    const modelIds = ROLES.map((r) => `${r}=${pool.backendFor(r).modelId}`).join(",");
    const ledgerSettings: LedgerSettings = {
      settingsHash: settingsHash(modelIds, prompts, services.deps.settings),
      modelId: modelIds,
      promptsHash: prompts.hash,
    };

    const resumed = run !== undefined;
    if (!run) {
      db.createRun({
        id: runId,
        input,
        out,
        model: [...new Set(pool.backends.map((b) => b.modelId))].join(", "),
        settings: JSON.stringify({ hash: ledgerSettings.settingsHash, options: recorded }),
        startedAt: new Date().toISOString(),
        pid: process.pid,
      });
      run = db.getRun(runId);
    } else {
      db.setRunStatus(runId, "running", { pid: process.pid });
    }
    emit({ type: "run_started", runId, input, out, model: run?.model ?? "", resumed });
    // A resumed run does not discover again (its file list is checkpointed): show the real totals.
    if (resumed) {
      const discovered = resumedTotals(db.listFiles(runId));
      if (discovered) emit(discovered);
    }

    const checkpointer = db.checkpointer();
    // The extractor's model: every file starts there, and its sequences bound the files in flight.
    const extractorModel = plan.models.find((m) => m.roles.includes("extractor"));
    const graph = buildPipelineGraph(services.deps, { concurrency: plan.concurrency, sequences: extractorModel?.sequences, checkpointer });
    const config = { configurable: { thread_id: runId }, signal: abort.signal, recursionLimit: 500, durability: "sync" as const };
    const existing = await graph.getState({ configurable: { thread_id: runId } });
    const hasCheckpoint = existing.config?.configurable?.checkpoint_id !== undefined;
    const graphInput = hasCheckpoint
      ? null
      : {
          inputDir: input,
          outDir: out,
          exclude: [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, out],
          maxFileBytes: recorded.maxFileBytes,
          settings: ledgerSettings,
          force: options.force === true,
          prune: options.prune === true,
        };

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
    if (status !== "done") {
      // LangGraph leaves sibling tasks running when one fails: stop them before anything is closed.
      if (!abort.signal.aborted) abort.abort(new InterruptedError("failure"));
      await services.deps.tasks?.idle(15_000);
      reporter.close();
    }
    db.setRunStatus(runId, status, { endedAt: status === "done" ? new Date().toISOString() : null, pid: null });
    // A finished run needs no step history: keep its final state, per-file progress and call counts.
    if (status === "done" && !options.keepHistory) db.compactRun(runId);
    const kb = services.deps.kb(out);
    // --site: the static site of the finished knowledge base; a failure there costs none of the run's work.
    let siteLine: string | undefined;
    if (status === "done" && options.site) {
      try {
        const site = writeSite({ entries: kb.entries(), quarantined: kb.quarantined(), inputDir: input }, path.join(out, "site"));
        siteLine = `site: ${path.join(site.dir, "index.html")} (${site.files.length} files, ${site.written.length} changed)`;
      } catch (e) {
        siteLine = `site not written: ${(e as Error).message}${isUserError(e) && e.hint ? ` ${e.hint}` : ""}`;
      }
    }
    summary = buildSummary({
      status,
      runId,
      db,
      kbEntries: kb.entries().length,
      verification: countVerification(kb.contributions(), kb.quarantined().length),
      counters: services.deps.llm.counters,
      wallMs: Date.now() - started,
      resume: status === "done" ? null : resumeHint(),
      out,
      error,
    });
    db.setRunStatus(runId, status, { summary: JSON.stringify(summary) });
    const code = finish(summary, status === "done" ? 0 : status === "interrupted" ? 130 : 1);
    if (siteLine) io.stderr.write(`${terminalText(siteLine)}\n`);
    return code;
  } catch (e) {
    const err = interrupted ? undefined : toUserError(e);
    const status: RunSummary["status"] = interrupted ? "interrupted" : "failed";
    const known = db && runId ? db.getRun(runId) : undefined;
    if (db && known) db.setRunStatus(known.id, status, { pid: null });
    summary = {
      type: "summary",
      status,
      runId: known?.id ?? null,
      files: { found: 0, processed: 0, skipped: 0, quarantined: 0, unchanged: 0, pending: 0 },
      skipped: [],
      quarantinedFiles: [],
      patterns: 0,
      llm: { calls: 0, tokens: 0, inputTokens: 0, reusedInputTokens: 0, memoHits: 0 },
      wallMs: Date.now() - started,
      resume: known ? resumeHint() : null,
      out: path.resolve(options.out),
      ...(err ? { error: { code: err.code, message: err.message, hint: err.hint ?? null } } : {}),
    };
    const usage = ["USAGE", "INPUT_NOT_FOUND", "INPUT_NOT_DIRECTORY", "OUTPUT_INSIDE_INPUT", "OUTPUT_NOT_KB", "NO_RUN_TO_RESUME", "CONFIG_INVALID"];
    return finish(summary, interrupted ? 130 : err && usage.includes(err.code) ? 2 : 1);
  } finally {
    unsubscribe();
    reporter.stop();
    setWriteFault(undefined);
    setNodeFault(undefined);
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
    // Error messages quote file names and model text: no control character reaches the terminal.
    io.stderr.write(`${terminalText(formatSummary(s))}\n`);
    if (options.json) io.stdout.write(`${JSON.stringify(s)}\n`);
    return code;
  }
}

/** The progress totals of a resumed run, from its file rows (none before discovery finished). */
export function resumedTotals(rows: readonly { status: string; node: string | null }[]): Extract<PipelineEvent, { type: "files_discovered" }> | undefined {
  // A file the pipeline finished has node "done" (its outcome may be "skipped"); skipped at discovery, node "discover".
  const finished = rows.filter((r) => r.node === "done").length;
  const toProcess = finished + rows.filter((r) => r.status === "pending" && r.node !== "done").length;
  if (toProcess === 0) return undefined;
  const skipped = rows.filter((r) => r.status === "skipped" && r.node !== "done").length;
  return { type: "files_discovered", found: rows.length, toProcess, skipped, alreadyDone: finished };
}

class InterruptedError extends Error {
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
    this.name = "AbortError";
  }
}

function checkDirectories(input: string, out: string, forceOut: boolean): void {
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
  // A directory of someone's files is not a knowledge base: refuse it unless the user says so.
  const usable = KnowledgeBase.isUsableOutDir(out);
  if (!usable.ok && !forceOut)
    throw new UserError(
      "OUTPUT_NOT_KB",
      `--out ${out} is not empty (${usable.entries.join(", ")}${usable.entries.length === 5 ? ", …" : ""}) and holds no knowledge base.`,
      "Choose a new or empty --out directory, or pass --force-out to write the knowledge base there anyway (files the tool did not write are never replaced or removed).",
    );
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
  // Not a model failure (those are UserErrors from LlmService): a bug, named as one, with where it happened.
  const node = errorNode(e);
  return new UserError(
    "INTERNAL_ERROR",
    `The run stopped on an unexpected error${node ? ` in the ${node} node` : ""}: ${describeError(e)}`,
    "Finished work is saved: resume with --resume. If it repeats, report it with this message.",
    { cause: e },
  );
}

/**
 * A pipeline run, opened and ready to invoke: run database, output lock, models, research, code
 * check and services, the graph on the run database's checkpointer, and the input (null when the
 * run continues from its checkpoints). `runPipeline` invokes it; Studio streams it. Either way
 * `finish` records the outcome, writes the summary and closes everything the run opened.
 */
import { EventEmitter, setMaxListeners } from "node:events";
import path from "node:path";
import { refuseOlderGraphCheckpoints } from "../../graphs/olderCheckpoints.ts";
import { buildPipelineGraph, type PipelineGraph } from "../../graphs/pipelineGraph.ts";
import { DEFAULT_SETTINGS, type PipelineSettings } from "../../nodes/deps.ts";
import { DEFAULT_OUT_DIR, DEFAULT_RUN_DB } from "../config/defaults.ts";
import { type Env, readEnv } from "../config/env.ts";
import { describeError, errorNode, fsErrorToUserError, isUserError, UserError } from "../errors.ts";
import { writeSite } from "../kb/site/writeSite.ts";
import { CPU_HOLD_MS, cpuCallsAtOnce, cpuFilesInFlight } from "../llm/cpuFilesInFlight.ts";
import { FairScheduler } from "../llm/FairScheduler.ts";
import { ROLES } from "../llm/roles.ts";
import type { PipelineEvent } from "../progress/events.ts";
import { PromptLibrary } from "../prompts/PromptLibrary.ts";
import { defaultDocsIndexPath, openResearch } from "../research/openResearch.ts";
import type { LedgerSettings } from "../store/Ledger.ts";
import { OutputLock } from "../store/OutputLock.ts";
import { RunDatabase } from "../store/RunDatabase.ts";
import { parseFaults, setNodeFault, withModelFault } from "../testing/faults.ts";
import { setWriteFault } from "../util/atomicWrite.ts";
import { CodeCheckCache } from "../validate/CodeCheckCache.ts";
import { RustChecker } from "../validate/rustCheck.ts";
import { createServices, settingsHash } from "./createServices.ts";
import { openModels } from "./openModels.ts";
import { newRunDirectories, resolveRun } from "./resolveRun.ts";
import { buildSummary, countVerification, type RunSummary, resumeCommand, stoppedSummary } from "./summary.ts";
import type { PipelineHooks, PipelineOptions, RunModels } from "./types.ts";

/** The graph's input for a new run (the run's directories and limits; never chosen by a caller of Studio). */
export interface PipelineInput {
  inputDir: string;
  outDir: string;
  exclude: string[];
  maxFileBytes: number;
  settings: LedgerSettings;
  force: boolean;
  prune: boolean;
}

export interface PipelineRunSession {
  runId: string;
  input: string;
  out: string;
  dbPath: string;
  /** True when the run existed before (a resume). */
  resumed: boolean;
  /** The pipeline graph, compiled with the run database's checkpointer. */
  graph: PipelineGraph;
  config: { configurable: { thread_id: string; checkpoint_id?: string }; signal: AbortSignal; recursionLimit: number; durability: "sync" };
  /** Graph input: null when the run continues from its checkpoints. */
  graphInput: PipelineInput | null;
  /** Aborts the run's work (calls in flight are dropped; finished steps are kept). */
  abort(reason?: unknown): void;
  /** Records how the run ended, writes its summary (and site), and closes everything it opened. */
  finish(outcome: { status: RunSummary["status"]; error?: UserError }): Promise<RunSummary>;
}

/** Raised when a run cannot be opened; carries the summary to report (status "failed" or "interrupted"). */
export class RunNotStarted extends Error {
  constructor(
    readonly summary: RunSummary,
    readonly error: UserError | undefined,
  ) {
    super(error ? `${error.message}${error.hint ? ` ${error.hint}` : ""}` : "interrupted before the run started");
    this.name = "RunNotStarted";
  }
}

export async function openPipelineRun(options: PipelineOptions, hooks: PipelineHooks = {}): Promise<PipelineRunSession> {
  const started = Date.now();
  const env: Env = hooks.env ?? readEnv();
  const emit = (e: PipelineEvent) => hooks.onEvent?.(e);
  const abort = new AbortController();
  // Every waiting LLM call and file slot listens on this one signal, and LangGraph adds a listener per
  // Send task to the signals it derives from it (langgraphjs#1014): no spurious leak warnings.
  setMaxListeners(0, abort.signal);
  if (EventEmitter.defaultMaxListeners < 1000) setMaxListeners(1000);
  const onOuterAbort = () => abort.abort(hooks.signal?.reason ?? new InterruptedError("abort"));
  if (hooks.signal?.aborted) onOuterAbort();
  hooks.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const cleanups: (() => Promise<void> | void)[] = [() => hooks.signal?.removeEventListener("abort", onOuterAbort)];
  const closeAll = async () => {
    setWriteFault(undefined);
    setNodeFault(undefined);
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort: the run's state is already saved
      }
    }
    cleanups.length = 0;
  };
  const dbPath = path.resolve(options.db ?? DEFAULT_RUN_DB);
  let db: RunDatabase | undefined;
  let runId: string | undefined;
  let known = false;
  let resumeHint: string | null = null;

  try {
    // A new run's directories are checked before anything is created (the run database included).
    const newRunDirs = options.resume === undefined ? newRunDirectories(options) : undefined;
    db = RunDatabase.open(dbPath);
    const openDb = db;
    cleanups.push(() => openDb.close());
    db.markDeadRuns();
    const resolved = resolveRun(options, db, env, newRunDirs);
    const { input, out, recorded } = resolved;
    runId = resolved.runId;
    known = resolved.run !== undefined;
    resumeHint = resumeCommand(input, out, dbPath);

    // One writer per output directory; taking the lock also proves the directory is writable.
    if (hooks.outputLock) {
      if (path.resolve(hooks.outputLock.file) !== path.join(out, ".kb", "lock"))
        throw new UserError("USAGE", `The output lock passed to the run is ${hooks.outputLock.file}, not the lock of ${out}.`);
    } else {
      const lock = OutputLock.acquire(out, { runId, db: dbPath }, { breakLock: options.breakLock === true });
      cleanups.push(() => lock.release());
    }

    const loadModels = (onCleanup: (c: () => Promise<void> | void) => void) => openConfiguredModels(recorded, options, env, abort.signal, emit, onCleanup);
    const models =
      hooks.models ??
      (hooks.keptModels
        ? await hooks.keptModels.get(JSON.stringify({ model: recorded.model, agents: recorded.agents }), loadModels)
        : await loadModels((c) => cleanups.push(c)));
    if (abort.signal.aborted) throw abort.signal.reason;
    const faults = parseFaults(env.testFaults);
    const backendFor = faults.model ? withModelFault(models.backendFor, faults.model) : models.backendFor;
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
      env,
      db,
      forbiddenDirs: [input, out],
      events: emit,
      signal: abort.signal,
    });
    cleanups.push(() => research.close());
    const codeCheck = new RustChecker({
      cache: new CodeCheckCache(db.connection),
      forbiddenDirs: [input, out],
      ...(options.rustc === false ? { rustc: false } : {}),
    });
    const services = createServices({ db, backendFor, events: emit, settings, prompts, research: research.providers, codeCheck });
    cleanups.push(() => services.close());
    const modelIds = ROLES.map((r) => `${r}=${models.backendFor(r).modelId}`).join(",");
    const ledgerSettings: LedgerSettings = {
      settingsHash: settingsHash(modelIds, prompts, services.deps.settings),
      modelId: modelIds,
      promptsHash: prompts.hash,
    };

    let run = resolved.run;
    if (!run) {
      db.createRun({
        id: runId,
        input,
        out,
        model: [...new Set(ROLES.map((r) => models.backendFor(r).modelId))].join(", "),
        settings: JSON.stringify({ hash: ledgerSettings.settingsHash, options: recorded }),
        startedAt: new Date().toISOString(),
        pid: process.pid,
      });
      run = db.getRun(runId);
      known = true;
    } else {
      db.setRunStatus(runId, "running", { pid: process.pid });
    }
    emit({ type: "run_started", runId, input, out, model: run?.model ?? "", resumed: resolved.run !== undefined });
    // A resumed run does not discover again (its file list is checkpointed): show the real totals.
    if (resolved.run) {
      const discovered = resumedTotals(db.listFiles(runId));
      if (discovered) emit(discovered);
    }

    const graph = buildPipelineGraph(services.deps, {
      concurrency: Math.min(models.concurrency, models.filesInFlight ?? models.concurrency),
      sequences: models.sequences,
      checkpointer: db.checkpointer(),
    });
    const existing = await graph.getState({ configurable: { thread_id: runId, ...(options.checkpointId ? { checkpoint_id: options.checkpointId } : {}) } });
    const hasCheckpoint = existing.config?.configurable?.checkpoint_id !== undefined;
    if (options.checkpointId && !hasCheckpoint)
      throw new UserError("NO_RUN_TO_RESUME", `Run ${runId} has no checkpoint ${options.checkpointId}.`, "Pick a checkpoint from the run's history.");
    // A run interrupted by a version with other node names cannot continue: LangGraph would skip its steps.
    if (hasCheckpoint)
      await refuseOlderGraphCheckpoints(graph, {
        configurable: { thread_id: runId, ...(options.checkpointId ? { checkpoint_id: options.checkpointId } : {}) },
      });
    const graphInput: PipelineInput | null = hasCheckpoint
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

    const sessionDb = db;
    const sessionRunId = runId;
    let finished: Promise<RunSummary> | undefined;
    const finish = async (outcome: { status: RunSummary["status"]; error?: UserError }): Promise<RunSummary> => {
      let { status, error } = outcome;
      try {
        if (status !== "done") {
          emit({ type: "run_stopping", status });
          // LangGraph leaves sibling tasks running when one fails: stop them before anything is closed.
          if (!abort.signal.aborted) abort.abort(new InterruptedError("failure"));
          await services.deps.tasks?.idle(15_000);
        }
        // The knowledge base's totals; one that cannot be read (the full disk that failed the run) must not hide the run's own error.
        let kbTotals: { entries: number; quarantined: number; contributions: Parameters<typeof countVerification>[0] } | undefined;
        let drafts: { published: number; rejected: number } | undefined;
        try {
          const kb = services.deps.kb(out);
          const quarantined = kb.quarantined();
          const contributions = kb.contributions();
          kbTotals = { entries: kb.entries().length, quarantined: quarantined.length, contributions };
          drafts = draftsOfRun(sessionDb.listFiles(sessionRunId), contributions, quarantined);
        } catch (e) {
          if (status === "done") {
            status = "failed";
            error = toUserError(e);
          }
        }
        sessionDb.setRunStatus(sessionRunId, status, { endedAt: status === "done" ? new Date().toISOString() : null, pid: null });
        // A finished run needs no step history: keep its final state, per-file progress and call counts.
        if (status === "done" && !options.keepHistory) sessionDb.compactRun(sessionRunId);
        // The static site of the finished knowledge base; a failure there costs none of the run's work.
        let site: RunSummary["site"];
        if (status === "done" && options.site) {
          try {
            const kb = services.deps.kb(out);
            const written = writeSite({ entries: kb.entries(), quarantined: kb.quarantined(), unread: kb.unread(), inputDir: input }, path.join(out, "site"));
            site = { index: path.join(written.dir, "index.html"), files: written.files.length, changed: written.written.length, kept: written.kept };
          } catch (e) {
            site = { error: `${(e as Error).message}${isUserError(e) && e.hint ? ` ${e.hint}` : ""}` };
          }
        }
        const summary = buildSummary({
          status,
          runId: sessionRunId,
          db: sessionDb,
          kbEntries: kbTotals?.entries ?? 0,
          verification: countVerification(kbTotals?.contributions ?? [], kbTotals?.quarantined ?? 0),
          counters: services.deps.llm.counters,
          time: services.times.totals(),
          model: models.backendFor("writer").modelId,
          ...(drafts ? { drafts } : {}),
          wallMs: Date.now() - started,
          resume: status === "done" ? null : resumeHint,
          out,
          error,
        });
        if (site) summary.site = site;
        sessionDb.setRunStatus(sessionRunId, status, { summary: JSON.stringify(summary) });
        return summary;
      } finally {
        await closeAll();
      }
    };
    return {
      runId,
      input,
      out,
      dbPath,
      resumed: resolved.run !== undefined,
      graph,
      config: {
        configurable: { thread_id: runId, ...(options.checkpointId ? { checkpoint_id: options.checkpointId } : {}) },
        signal: abort.signal,
        recursionLimit: 500,
        durability: "sync",
      },
      graphInput,
      abort: (reason) => abort.abort(reason ?? new InterruptedError("abort")),
      finish: (outcome) => {
        finished ??= finish(outcome);
        return finished;
      },
    };
  } catch (e) {
    const interrupted = abort.signal.aborted;
    const err = interrupted ? undefined : toUserError(e);
    const status: RunSummary["status"] = interrupted ? "interrupted" : "failed";
    if (db && runId && known) db.setRunStatus(runId, status, { pid: null });
    const summary = stoppedSummary({
      status,
      runId: known ? (runId ?? null) : null,
      wallMs: Date.now() - started,
      resume: known ? resumeHint : null,
      out: path.resolve(options.out ?? DEFAULT_OUT_DIR),
      ...(err ? { error: err } : {}),
    });
    await closeAll();
    throw new RunNotStarted(summary, err);
  }
}

/** Loads the configured models; the extractor's model's sequences bound the files in flight (every file starts there). */
async function openConfiguredModels(...args: Parameters<typeof openModels>): Promise<RunModels> {
  const { plan, pool, cpuOnly } = await openModels(...args);
  const extractorModel = plan.models.find((m) => m.roles.includes("extractor"));
  // On a CPU engine a few files per thread keep it busy; more only delay every file (unless --concurrency says otherwise).
  const onCpu = cpuOnly === true && extractorModel !== undefined && extractorModel.backend !== "endpoint" && args[1].concurrency === undefined;
  if (onCpu) {
    const { scheduler } = pool.backendFor("extractor") as { scheduler?: unknown };
    if (scheduler instanceof FairScheduler) scheduler.limitActive(cpuCallsAtOnce(extractorModel.threads), CPU_HOLD_MS);
  }
  return {
    backendFor: pool.backendFor,
    concurrency: plan.concurrency,
    sequences: extractorModel?.sequences,
    ...(onCpu ? { filesInFlight: cpuFilesInFlight(extractorModel.threads) } : {}),
  };
}

/** The drafts of the files this run decided (processed or quarantined): published, and rejected (in quarantine). */
export function draftsOfRun(
  rows: readonly { relPath: string; status: string }[],
  contributions: readonly { relPath: string }[],
  quarantined: readonly { relPath: string }[],
): { published: number; rejected: number } {
  const decided = new Set(rows.filter((r) => r.status === "processed" || r.status === "quarantined").map((r) => r.relPath));
  return { published: contributions.filter((c) => decided.has(c.relPath)).length, rejected: quarantined.filter((q) => decided.has(q.relPath)).length };
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

export class InterruptedError extends Error {
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
    this.name = "AbortError";
  }
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

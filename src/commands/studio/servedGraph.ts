/**
 * The graph Studio is served: the real pipeline graph over the run database's checkpointer. For
 * reading (state, subgraph state, history, the drawing) and for editing state (time travel) it is
 * the pipeline built with inert dependencies — nothing runs. A run (POST /threads/:id/runs/stream)
 * calls its streamEvents, which opens the thread's run like `npm run graph` does (a new run whose ID
 * is the thread ID, or the run itself resumed with its recorded models and settings), streams the
 * real run, and records how it ended.
 */
import { createHash } from "node:crypto";
import type { RunnableConfig } from "@langchain/core/runnables";
import { validate } from "@langchain/core/utils/uuid";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { buildPipelineGraph, type PipelineGraph } from "../../../graphs/pipelineGraph.ts";
import { UserError } from "../../errors.ts";
import type { RunDatabase } from "../../store/RunDatabase.ts";
import type { RunIds } from "./runIds.ts";
import { confineToRoots } from "./studioPolicy.ts";

/** State keys that name paths: Studio never picks them by editing state (a run's directories are its run row's). */
const PATH_KEYS = ["inputDir", "outDir", "exclude"] as const;

/** What openPipelineRun hands back (src/run/openPipelineRun.ts), as far as Studio uses it. */
export interface StudioRunSession {
  runId: string;
  graph: {
    streamEvents(input: unknown, options: Record<string, unknown>): AsyncIterable<unknown> | Promise<AsyncIterable<unknown>>;
    getState?(config: RunnableConfig): Promise<{ next: readonly string[] }>;
  };
  config: RunnableConfig & { configurable: { thread_id: string } };
  /** Graph input: null when the run continues from its checkpoint. */
  graphInput: unknown;
  finish(result: { status: "done" | "interrupted" | "failed"; error?: unknown }): Promise<unknown>;
}

/** A run to open: a new one (`runId`, directories confined to the roots) or an existing one resumed (`resume`). */
export type StudioRunRequest =
  | { kind: "new"; runId: string; inputDir: string; outDir: string; force: boolean }
  /** `checkpointId`: continue from that checkpoint (a fork made by editing state: time travel), a finished run too. */
  | { kind: "resume"; runId: string; checkpointId?: string };

export interface ServedGraphDeps {
  db: RunDatabase;
  /** Thread IDs <-> run IDs (old runs' IDs are not UUIDs). */
  ids: RunIds;
  roots: readonly string[];
  /** Opens the run (src/run/openPipelineRun.ts with the server's model options). */
  openRun: (request: StudioRunRequest, signal: AbortSignal | undefined) => Promise<StudioRunSession>;
  /** Runs this server is working on now, each with the controller that stops it (cancel, Ctrl-C). */
  active: Map<string, AbortController>;
  /** The thread's first run has its run row. */
  onRunOpened?: (runId: string) => void;
}

/** The pipeline's shape, for drawing and for reading and editing checkpoints (its nodes never run). */
export function buildStructureGraph(checkpointer: BaseCheckpointSaver): PipelineGraph {
  const inert = new Proxy(
    {},
    {
      get(_target, key) {
        if (key === "then") return undefined;
        throw new Error(`Studio's structure graph does not run nodes (deps.${String(key)} was used)`);
      },
    },
  );
  return buildPipelineGraph(inert as never, { concurrency: 1, checkpointer });
}

/**
 * The object given to createEmbedServer: the structure graph with its own streamEvents (runs go
 * through openRun) and an updateState that refuses edits of paths and edits of a running run.
 */
export function buildServedGraph(structure: PipelineGraph, deps: ServedGraphDeps): PipelineGraph {
  const served = Object.create(structure) as PipelineGraph;
  const guard = (config: RunnableConfig, values: unknown) => {
    const threadId = config.configurable?.thread_id;
    const runId = typeof threadId === "string" ? deps.ids.runIdOf(threadId) : undefined;
    if (typeof threadId === "string" && runId && (deps.active.has(threadId) || deps.db.getRun(runId)?.status === "running"))
      throw new UserError(
        "RUN_LOCKED",
        `Run ${runId} is running: its state cannot be edited now.`,
        "Wait for it to stop, then edit a checkpoint and run from there.",
      );
    refusePathEdits(values);
  };
  const runOf = (config: RunnableConfig) => deps.ids.runIdOf(String(config.configurable?.thread_id ?? ""));
  Object.assign(served, {
    // Drafts are kept in the run database by hash: Studio shows their text next to the hash.
    async getState(config: RunnableConfig, options?: { subgraphs?: boolean }) {
      return withDrafts(await structure.getState.call(served, config, options), deps.db);
    },
    async *getStateHistory(config: RunnableConfig, options?: Record<string, unknown>) {
      for await (const snapshot of structure.getStateHistory.call(served, config, options)) yield withDrafts(snapshot, deps.db);
    },
    updateState(config: RunnableConfig, values: unknown, asNode?: string) {
      guard(config, values);
      return structure.updateState.call(served, config, storeEditedDrafts(values, deps.db, runOf(config)) as never, asNode);
    },
    bulkUpdateState(config: RunnableConfig, supersteps: { updates: { values?: unknown }[] }[]) {
      for (const step of supersteps) for (const u of step.updates) guard(config, u.values);
      const stored = supersteps.map((step) => ({
        ...step,
        updates: step.updates.map((u) => ({ ...u, values: storeEditedDrafts(u.values, deps.db, runOf(config)) })),
      }));
      return structure.bulkUpdateState.call(served, config, stored as never);
    },
    // Every run goes through streamEvents (openPipelineRun): the structure graph itself never runs.
    stream() {
      throw new UserError("USAGE", "Studio runs stream through /threads/{id}/runs/stream.");
    },
    invoke() {
      throw new UserError("USAGE", "Studio runs stream through /threads/{id}/runs/stream.");
    },
    streamEvents(input: unknown, options: Record<string, unknown> & { configurable?: Record<string, unknown>; signal?: AbortSignal }) {
      return streamRun(structure, served, deps, input, options);
    },
  });
  return served;
}

async function* streamRun(
  structure: PipelineGraph,
  served: PipelineGraph,
  deps: ServedGraphDeps,
  input: unknown,
  options: Record<string, unknown> & { configurable?: Record<string, unknown>; signal?: AbortSignal },
): AsyncGenerator<unknown> {
  const threadId = options.configurable?.thread_id;
  if (typeof threadId !== "string" || !validate(threadId))
    throw new UserError("USAGE", "A Studio run needs a thread (its ID is the run ID).", "Create a thread, then run in it.");
  const checkpointId = options.configurable?.checkpoint_id;
  if (checkpointId !== undefined && typeof checkpointId !== "string") throw new UserError("USAGE", "checkpoint_id must be a string.");
  if (deps.active.has(threadId)) throw new UserError("RUN_LOCKED", `Run ${threadId} is already running in this server.`, "Wait for it to finish or stop it.");
  // Taken before the first await: a second request for the thread cannot pass the check meanwhile.
  const stop = new AbortController();
  deps.active.set(threadId, stop);
  let request: StudioRunRequest;
  try {
    request = await admit(structure, served, deps, threadId, input, checkpointId);
  } catch (e) {
    deps.active.delete(threadId);
    throw e;
  }
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let session: StudioRunSession | undefined;
  let status: "done" | "interrupted" | "failed" = "done";
  let error: unknown;
  // Stopped by the client (it went away or cancelled) or by the server (Ctrl-C): the run is interrupted, its finished steps saved.
  const aborted = () => Boolean(signal.aborted || session?.config.signal?.aborted);
  try {
    session = await deps.openRun(request, signal);
    deps.onRunOpened?.(threadId);
    // Only the run's own keys reach the graph: a request's configurable cannot set LangGraph internals.
    const configurable = { ...session.config.configurable, ...(checkpointId ? { checkpoint_id: checkpointId } : {}) };
    // No callbacks either: a request naming a LangSmith project would otherwise send the run's data there.
    const { configurable: _ignored, signal: _signal, callbacks: _callbacks, ...streamOptions } = options;
    yield* await session.graph.streamEvents(checkpointId ? null : session.graphInput, { ...streamOptions, ...session.config, configurable });
    if (aborted()) status = "interrupted";
    // Stopped at a breakpoint (interrupt_before/after): not finished, resumable.
    else if (session.graph.getState && (await session.graph.getState({ configurable: { thread_id: session.config.configurable.thread_id } })).next.length > 0)
      status = "interrupted";
  } catch (e) {
    status = aborted() ? "interrupted" : "failed";
    error = e;
    throw e;
  } finally {
    deps.active.delete(threadId);
    // A generator closed early (the client went away) ends here too.
    if (session && status === "done" && aborted()) status = "interrupted";
    if (session) await session.finish(error === undefined ? { status } : { status, error });
  }
}

/** Which run a request opens, refusing what Studio must not do. */
async function admit(
  structure: PipelineGraph,
  served: PipelineGraph,
  deps: ServedGraphDeps,
  threadId: string,
  input: unknown,
  checkpointId: string | undefined,
): Promise<StudioRunRequest> {
  deps.db.markDeadRuns();
  const run = deps.db.getRun(deps.ids.runIdOf(threadId));
  if (!run) {
    if (checkpointId) throw new UserError("USAGE", `Thread ${threadId} has no run to continue from a checkpoint.`);
    const given = (input ?? {}) as Record<string, unknown>;
    return {
      kind: "new",
      runId: threadId,
      inputDir: confineToRoots(given.inputDir, deps.roots, "inputDir"),
      outDir: confineToRoots(given.outDir, deps.roots, "outDir"),
      force: given.force === true,
    };
  }
  if (input !== null && input !== undefined && !(typeof input === "object" && Object.keys(input).length === 0))
    throw new UserError(
      "USAGE",
      `Thread ${threadId} is run ${run.id}: it continues from its checkpoints and takes no new input.`,
      "Run it with no input to resume it, or create a new thread for a new run.",
    );
  if (run.status === "running") throw new UserError("RUN_LOCKED", `Run ${run.id} is running (pid ${run.pid}).`, "Wait for it to stop, then resume it.");
  // The run writes where it was started: those directories must be ones this server may use.
  confineToRoots(run.input, deps.roots, "inputDir");
  confineToRoots(run.out, deps.roots, "outDir");
  const config = { configurable: { thread_id: threadId, ...(checkpointId ? { checkpoint_id: checkpointId } : {}) } };
  const state = await structure.getState.call(served, config);
  if (checkpointId && state.config?.configurable?.checkpoint_id !== checkpointId)
    throw new UserError("USAGE", `Run ${run.id} has no checkpoint ${checkpointId}.`, "Pick a checkpoint from the thread's history.");
  const values = state.values as { inputDir?: unknown; outDir?: unknown; exclude?: unknown };
  // State edits never choose paths: the checkpoint must name the run's own directories.
  if (values.inputDir !== undefined && (values.inputDir !== run.input || values.outDir !== run.out))
    throw new UserError(
      "USAGE",
      `The checkpoint's directories differ from run ${run.id}'s (${run.input} -> ${run.out}).`,
      "Run from a checkpoint of this run.",
    );
  if (values.exclude !== undefined && (!Array.isArray(values.exclude) || !values.exclude.includes(run.out)))
    throw new UserError(
      "USAGE",
      `The checkpoint of run ${run.id} no longer excludes its output directory from the input.`,
      "Run from a checkpoint of this run.",
    );
  return { kind: "resume", runId: run.id, ...(checkpointId ? { checkpointId } : {}) };
}

/** Throws when a state update sets a path key, at the top level or in a per-file subgraph. */
export function refusePathEdits(values: unknown): void {
  const updates = Array.isArray(values) ? values : [values];
  for (const u of updates) {
    if (u === null || typeof u !== "object") continue;
    for (const key of PATH_KEYS)
      if (key in u)
        throw new UserError(
          "USAGE",
          `Studio does not edit "${key}": a run's directories are the ones it was started with.`,
          "Edit other values, or start a new run with other directories.",
        );
  }
}

interface ShownDraftRef {
  ref: string | null;
  round: number;
  problems?: string[];
  /** The draft itself (read from the run database; absent once a finished run was compacted). */
  draft?: unknown;
}

/** A state snapshot with each draft's text beside its hash, in the per-file subgraph states too. */
function withDrafts<T>(snapshot: T, db: RunDatabase): T {
  const s = snapshot as { values?: { drafts?: Record<string, ShownDraftRef> }; tasks?: { state?: unknown }[] };
  const drafts = s.values?.drafts;
  if (drafts && typeof drafts === "object") {
    const shown: Record<string, ShownDraftRef> = {};
    for (const [key, ref] of Object.entries(drafts)) {
      let draft: unknown;
      try {
        draft = ref?.ref ? db.getBlob(ref.ref) : undefined;
      } catch {
        draft = undefined; // compacted away
      }
      shown[key] = draft === undefined ? ref : { ...ref, draft };
    }
    s.values = { ...s.values, drafts: shown };
  }
  if (Array.isArray(s.tasks))
    s.tasks = s.tasks.map((t) => (t.state && typeof t.state === "object" && "values" in t.state ? { ...t, state: withDrafts(t.state, db) } : t));
  return snapshot;
}

/**
 * A state edit that changes a draft's text (Studio shows `draft` beside `ref`): the edited draft is
 * stored like the writer stores one, and the state keeps only its hash.
 */
function storeEditedDrafts(values: unknown, db: RunDatabase, runId: string): unknown {
  if (Array.isArray(values)) return values.map((v) => storeEditedDrafts(v, db, runId));
  const drafts = (values as { drafts?: unknown } | null)?.drafts;
  if (!drafts || typeof drafts !== "object") return values;
  const refs: Record<string, unknown> = {};
  for (const [key, shown] of Object.entries(drafts as Record<string, ShownDraftRef>)) {
    if (!shown || typeof shown !== "object" || !("draft" in shown)) {
      refs[key] = shown;
      continue;
    }
    const { draft, ...ref } = shown;
    const hash = createHash("sha256").update(JSON.stringify(draft)).digest("hex").slice(0, 32);
    if (hash !== ref.ref) db.putBlob(hash, draft, runId);
    refs[key] = { ...ref, ref: hash };
  }
  return { ...(values as object), drafts: refs };
}

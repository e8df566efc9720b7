/**
 * Studio's threads are the run database's runs: a run's ID is its thread ID, so every `npm run graph`
 * run (with a UUID ID) is listed, opened and resumed as a thread, and a run Studio starts is an
 * ordinary run row. A thread Studio creates before its first run (POST /threads) has no run yet: it
 * lives in memory until its run starts — it carries no work, so a restart loses nothing, and no
 * browser request writes to the database before a run is admitted.
 */
import { v5, validate } from "@langchain/core/utils/uuid";
import type { ThreadSaver } from "@langchain/langgraph-api/experimental/embed";
import { HTTPException } from "hono/http-exception";
import type { RunDatabase, RunRow } from "../../store/RunDatabase.ts";
import { RunIds } from "./runIds.ts";

/** The graph Studio serves. */
export const GRAPH_ID = "rust_kb";
/** The assistant of that graph, with the ID the LangGraph server gives a graph's default assistant (uuid5 of the graph ID). */
export const ASSISTANT_ID = v5(GRAPH_ID, "6ba7b821-9dad-11d1-80b4-00c04fd430c8");

/** Threads created but not yet run, kept at most (a client creating threads in a loop cannot grow memory). */
const MAX_PENDING = 1000;
/** User metadata on one thread, as JSON, at most. */
const MAX_METADATA_CHARS = 16 * 1024;

type Metadata = Record<string, unknown>;
type ThreadStatus = "idle" | "busy" | "interrupted" | "error";

/** A thread as the LangGraph API returns it. */
export interface StudioThread {
  thread_id: string;
  created_at: string;
  updated_at: string;
  metadata: Metadata;
  status: ThreadStatus;
  values: Record<string, unknown>;
  interrupts: Record<string, unknown>;
}

const STATUS: Record<RunRow["status"], ThreadStatus> = { running: "busy", done: "idle", interrupted: "interrupted", failed: "error" };

export class StudioThreads implements ThreadSaver {
  private readonly pending = new Map<string, { createdAt: string; metadata: Metadata }>();
  /** Metadata Studio attached to run threads (PATCH /threads/:id): shown, never stored in the run database. */
  private readonly userMetadata = new Map<string, Metadata>();

  /** `isActive(threadId)`: a run this server is working on now. */
  constructor(
    private readonly db: RunDatabase,
    private readonly isActive: (threadId: string) => boolean = () => false,
    private readonly ids: RunIds = new RunIds(db),
  ) {}

  /** The thread of a run or of a thread created before its run; 404 otherwise. */
  async get(id: string): Promise<StudioThread> {
    const thread = this.find(id);
    if (!thread) throw new HTTPException(404, { message: `There is no thread ${id}: no run has that ID in this database.` });
    return thread as StudioThread;
  }

  async set(id: string, options: { kind: "put" | "patch"; metadata?: Metadata }): Promise<StudioThread> {
    // The run routes patch graph_id/assistant_id in: this server has one graph, so they carry nothing.
    const { graph_id: _g, assistant_id: _a, ...user } = options.metadata ?? {};
    if (JSON.stringify(user).length > MAX_METADATA_CHARS) throw new HTTPException(413, { message: "Thread metadata is limited to 16 KiB of JSON." });
    const known = this.find(id);
    if (!known) {
      if (!validate(id)) throw new HTTPException(422, { message: "Thread IDs are UUIDs (they become run IDs)." });
      if (this.pending.size >= MAX_PENDING)
        throw new HTTPException(429, { message: "Too many threads without a run: start a run in one, or restart the server." });
      this.pending.set(id, { createdAt: new Date().toISOString(), metadata: user });
    } else if (Object.keys(user).length > 0) {
      const pending = this.pending.get(id);
      const merged = options.kind === "patch" ? { ...(pending?.metadata ?? this.userMetadata.get(id)), ...user } : user;
      if (pending) pending.metadata = merged;
      else this.userMetadata.set(id, merged);
    }
    return this.get(id);
  }

  /** Deleting a run's thread deletes the run, as `npm run runs -- delete ID` does (never while it runs; its knowledge base stays). */
  async delete(id: string): Promise<void> {
    if (this.pending.delete(id)) return;
    this.db.markDeadRuns();
    const run = this.db.getRun(this.ids.runIdOf(id));
    if (!run) throw new HTTPException(404, { message: `There is no thread ${id}.` });
    if (run.status === "running" || this.isActive(id)) throw new HTTPException(409, { message: `Run ${run.id} is running: stop it before deleting it.` });
    this.db.deleteRun(run.id);
    this.userMetadata.delete(id);
  }

  async *search(options: {
    metadata?: Metadata;
    limit: number;
    offset: number;
    sortBy: "created_at" | "updated_at";
    sortOrder: "asc" | "desc";
  }): AsyncGenerator<{ thread: StudioThread; total: number }> {
    this.db.markDeadRuns();
    const runs = this.db.listRuns().map((r) => this.runThread(r));
    const all = [...runs, ...[...this.pending.keys()].map((id) => this.find(id) as StudioThread)].filter((t) => matches(t.metadata, options.metadata));
    const key = options.sortBy;
    all.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.thread_id < b.thread_id ? -1 : 1) * (options.sortOrder === "asc" ? 1 : -1));
    for (const thread of all.slice(options.offset, options.offset + options.limit)) yield { thread, total: all.length };
  }

  /** Called when a thread's first run has its run row: the thread is that run from now on. */
  promote(id: string): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    if (Object.keys(pending.metadata).length > 0) this.userMetadata.set(id, pending.metadata);
  }

  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  private find(id: string): StudioThread | undefined {
    const run = this.db.getRun(this.ids.runIdOf(id));
    if (run) return this.runThread(run);
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    return {
      thread_id: id,
      created_at: pending.createdAt,
      updated_at: pending.createdAt,
      metadata: { ...pending.metadata, graph_id: GRAPH_ID, assistant_id: ASSISTANT_ID },
      status: "idle",
      values: {},
      interrupts: {},
    };
  }

  private runThread(run: RunRow): StudioThread {
    const threadId = this.ids.threadIdOf(run.id);
    const status = this.isActive(threadId) ? "busy" : STATUS[run.status];
    return {
      thread_id: threadId,
      created_at: run.startedAt,
      updated_at: run.endedAt ?? run.startedAt,
      metadata: {
        ...this.userMetadata.get(threadId),
        graph_id: GRAPH_ID,
        assistant_id: ASSISTANT_ID,
        run_id: run.id,
        run_status: run.status,
        input: run.input,
        out: run.out,
        model: run.model,
        started_at: run.startedAt,
        ended_at: run.endedAt,
      },
      status,
      values: {},
      interrupts: {},
    };
  }
}

/** Every key of the filter equals the thread's value (as the LangGraph API's metadata filter). */
function matches(metadata: Metadata, filter: Metadata | undefined): boolean {
  if (!filter) return true;
  return Object.entries(filter).every(([k, v]) => JSON.stringify(metadata[k]) === JSON.stringify(v));
}

/**
 * Thread IDs of runs. The LangGraph API takes only UUIDs as thread IDs; runs get UUIDv7 IDs, which
 * are their thread IDs. Runs made before that ("run-20261101-…") get a UUID derived from their ID
 * (uuid5), and the checkpointer Studio reads through maps it back, so old runs open too.
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import { v5, validate } from "@langchain/core/utils/uuid";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import type { RunDatabase } from "../../store/RunDatabase.ts";

/** Namespace of the UUIDs derived from old run IDs. */
const OLD_RUN_IDS = "0b1d5b6e-2f0c-5a53-9d4e-7c3f4a1e6b21";

export class RunIds {
  private aliases = new Map<string, string>();

  constructor(private readonly db: RunDatabase) {}

  /** A run's thread ID: its own ID when that is a UUID, else one derived from it. */
  threadIdOf(runId: string): string {
    return validate(runId) ? runId : v5(runId, OLD_RUN_IDS);
  }

  /** The run ID behind a thread ID (the thread ID itself when no old run has it as its derived ID). */
  runIdOf(threadId: string): string {
    const known = this.aliases.get(threadId);
    if (known) return known;
    if (this.db.getRun(threadId)) return threadId;
    this.aliases = new Map(
      this.db
        .listRuns()
        .filter((r) => !validate(r.id))
        .map((r) => [this.threadIdOf(r.id), r.id]),
    );
    return this.aliases.get(threadId) ?? threadId;
  }
}

/**
 * The run database's checkpointer as the API sees it: configs name thread IDs, the stored
 * checkpoints run IDs. Only old runs differ; everything else passes through.
 */
export function threadIdCheckpointer(saver: BaseCheckpointSaver, ids: RunIds): BaseCheckpointSaver {
  const toRun = <C extends RunnableConfig | undefined>(config: C): C => {
    const id = config?.configurable?.thread_id;
    if (typeof id !== "string") return config;
    const runId = ids.runIdOf(id);
    return runId === id ? config : ({ ...config, configurable: { ...config?.configurable, thread_id: runId } } as C);
  };
  const toThread = <C extends RunnableConfig | undefined>(config: C): C => {
    const id = config?.configurable?.thread_id;
    if (typeof id !== "string" || validate(id)) return config;
    return { ...config, configurable: { ...config?.configurable, thread_id: ids.threadIdOf(id) } } as C;
  };
  const tuple = <T extends { config: RunnableConfig; parentConfig?: RunnableConfig } | undefined>(t: T): T =>
    t ? ({ ...t, config: toThread(t.config), ...(t.parentConfig ? { parentConfig: toThread(t.parentConfig) } : {}) } as T) : t;
  return new Proxy(saver, {
    get(target, key) {
      switch (key) {
        case "getTuple":
          return async (config: RunnableConfig) => tuple(await target.getTuple(toRun(config)));
        case "list":
          return async function* (config: RunnableConfig, options?: { before?: RunnableConfig }) {
            const opts = options?.before ? { ...options, before: toRun(options.before) } : options;
            for await (const t of target.list(toRun(config), opts as never)) yield tuple(t);
          };
        case "put":
          return async (config: RunnableConfig, ...rest: unknown[]) =>
            toThread(await (target.put as (...a: unknown[]) => Promise<RunnableConfig>)(toRun(config), ...rest));
        case "putWrites":
          return (config: RunnableConfig, ...rest: unknown[]) => (target.putWrites as (...a: unknown[]) => Promise<void>)(toRun(config), ...rest);
        case "deleteThread":
          return (threadId: string) => target.deleteThread(ids.runIdOf(threadId));
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

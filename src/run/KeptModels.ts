/**
 * Models kept loaded across runs, for `npm run graph -- --watch`: the first run loads them as any
 * run does, later runs over the same models and agents get the loaded ones (no second load), and
 * the watcher disposes them when it stops. Runs that ask for other models get those, and the
 * earlier ones are disposed first (two loads never share the memory budget).
 */
import type { ModelKeeper, RunModels } from "./types.ts";

type Cleanup = () => Promise<void> | void;

export class KeptModels implements ModelKeeper {
  private kept: { key: string; models: RunModels; cleanups: Cleanup[] } | undefined;

  async get(key: string, open: (onCleanup: (cleanup: Cleanup) => void) => Promise<RunModels>): Promise<RunModels> {
    if (this.kept?.key === key) return this.kept.models;
    await this.dispose();
    const cleanups: Cleanup[] = [];
    try {
      const models = await open((c) => cleanups.push(c));
      this.kept = { key, models, cleanups };
      return models;
    } catch (e) {
      await runCleanups(cleanups);
      throw e;
    }
  }

  /** Unloads the kept models (the owner calls it once no run uses them). */
  async dispose(): Promise<void> {
    const kept = this.kept;
    this.kept = undefined;
    if (kept) await runCleanups(kept.cleanups);
  }
}

async function runCleanups(cleanups: Cleanup[]): Promise<void> {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // best effort: the process is letting the models go
    }
  }
}

/**
 * How the Studio server opens a run it was asked for: the same session as `npm run graph`
 * (openPipelineRun), with the server's model and research options, and a line on stderr when the
 * run starts, ends or cannot start.
 */
import type { Env } from "../../config/env.ts";
import { toUserError } from "../../errors.ts";
import { openPipelineRun } from "../../run/openPipelineRun.ts";
import type { PipelineOptions } from "../../run/types.ts";
import { runFlagKeys, type StudioRunFlagKey } from "../runFlags.ts";
import type { StudioOptions } from "./parseStudioArgs.ts";
import type { ServedGraphDeps, StudioRunRequest } from "./servedGraph.ts";

export function studioRunOpener(options: StudioOptions, dbPath: string, env: Env, say: (text: string) => void): ServedGraphDeps["openRun"] {
  return async (request, signal) => {
    say(`${request.kind === "new" ? "starting" : "resuming"} run ${request.runId}`);
    try {
      const session = await openPipelineRun(studioPipelineOptions(request, options, dbPath), { ...(signal ? { signal } : {}), env });
      return {
        ...session,
        finish: async (result: { status: "done" | "interrupted" | "failed"; error?: unknown }) => {
          const summary = await session.finish(
            result.error === undefined ? { status: result.status } : { status: result.status, error: toUserError(result.error) },
          );
          say(`run ${request.runId}: ${result.status}`);
          return summary;
        },
      };
    } catch (e) {
      say(`run ${request.runId} not started: ${(e as Error).message}`);
      throw e;
    }
  };
}

/** A new run takes the server's model options; a resumed one reuses its recorded models (runFlags.ts marks which flag goes where). */
function studioPipelineOptions(request: StudioRunRequest, options: StudioOptions, dbPath: string): PipelineOptions {
  const base: PipelineOptions = { db: dbPath, keepHistory: !options.compact, ...runOptions(options, "every") };
  if (request.kind !== "new") return { ...base, resume: request.runId, ...(request.checkpointId ? { checkpointId: request.checkpointId } : {}) };
  return { ...base, input: request.inputDir, out: request.outDir, runId: request.runId, force: request.force, ...runOptions(options, "new") };
}

/** The run options of Studio's flags that runFlags.ts gives the runs Studio starts ("new") or every run it starts or resumes ("every"). */
function runOptions(options: StudioOptions, when: "new" | "every"): PipelineOptions {
  const keys = runFlagKeys((f) => f.studio === when) as StudioRunFlagKey[];
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

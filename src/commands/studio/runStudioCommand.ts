/**
 * `npm run studio`: serves the run database to LangGraph Studio on 127.0.0.1 until Ctrl-C. Runs
 * started or resumed from Studio go through openPipelineRun, as `npm run graph` runs do.
 */
import fs from "node:fs";
import path from "node:path";
import { serve } from "@hono/node-server";
import type { Env } from "../../config/env.ts";
import { isUserError, toUserError } from "../../errors.ts";
import { openPipelineRun } from "../../run/openPipelineRun.ts";
import type { PipelineOptions } from "../../run/types.ts";
import { RunDatabase } from "../../store/RunDatabase.ts";
import { terminalText } from "../../util/terminalText.ts";
import { whenListening } from "../../util/whenListening.ts";
import { runFlagKeys, type StudioRunFlagKey } from "../runFlags.ts";
import type { StudioOptions } from "./parseStudioArgs.ts";
import type { StudioRunRequest } from "./servedGraph.ts";
import { createStudioApp } from "./studioApp.ts";
import { parseOrigin } from "./studioPolicy.ts";

export interface StudioIo {
  stderr: NodeJS.WritableStream;
  env: Env;
  /** Subscribe to SIGINT/SIGTERM; returns an unsubscribe function. */
  onSignal: (handler: (signal: NodeJS.Signals) => void) => () => void;
}

/** The run options of Studio's flags that runFlags.ts gives the runs Studio starts ("new") or every run it starts or resumes ("every"). */
function runOptions(options: StudioOptions, when: "new" | "every"): PipelineOptions {
  const keys = runFlagKeys((f) => f.studio === when) as StudioRunFlagKey[];
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

export async function runStudioCommand(options: StudioOptions, io: StudioIo): Promise<number> {
  const say = (text: string) => io.stderr.write(`${terminalText(text)}\n`);
  // --root DIR, else where the user started `npm run studio` (npm runs scripts in the repo).
  const startDir = io.env.initCwd ?? process.cwd();
  const roots = (options.roots.length ? options.roots : [startDir]).map((r) => path.resolve(startDir, r));
  for (const r of roots)
    if (!fs.statSync(r, { throwIfNoEntry: false })?.isDirectory()) {
      say(`error: --root ${r} is not a directory`);
      return 2;
    }
  let origins: string[];
  try {
    origins = [...io.env.studioOrigins, ...options.allowOrigins].map(parseOrigin);
  } catch (e) {
    say(`error: --allow-origin: ${(e as Error).message}`);
    return 2;
  }
  const dbPath = path.resolve(options.db);
  let db: RunDatabase;
  try {
    db = RunDatabase.open(dbPath);
  } catch (e) {
    say(`error: ${(e as Error).message}${isUserError(e) && e.hint ? ` ${e.hint}` : ""}`);
    return 1;
  }
  db.markDeadRuns();

  const openRun = async (request: StudioRunRequest, signal: AbortSignal | undefined) => {
    const base: PipelineOptions = { db: dbPath, keepHistory: !options.compact, ...runOptions(options, "every") };
    const pipeline: PipelineOptions =
      request.kind === "new"
        ? {
            ...base,
            input: request.inputDir,
            out: request.outDir,
            runId: request.runId,
            force: request.force,
            ...runOptions(options, "new"),
          }
        : { ...base, resume: request.runId, ...(request.checkpointId ? { checkpointId: request.checkpointId } : {}) };
    say(`${request.kind === "new" ? "starting" : "resuming"} run ${request.runId}`);
    try {
      const session = await openPipelineRun(pipeline, { ...(signal ? { signal } : {}), env: io.env });
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

  const { app, active } = createStudioApp({ db, roots, origins, openRun });
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: options.port });
  let port: number;
  try {
    port = await whenListening(server);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    say(code === "EADDRINUSE" ? `error: port ${options.port} is in use. Pass --port N (0 picks a free one).` : `error: ${(e as Error).message}`);
    db.close();
    return 1;
  }
  const url = `http://127.0.0.1:${port}`;
  say(`Studio API: ${url} (database ${dbPath})`);
  say(`Open https://smith.langchain.com/studio/?baseUrl=${url} (the page needs internet in your browser; the API works offline).`);
  say(`Studio runs may use: ${roots.join(", ")}`);

  await new Promise<void>((resolve) => {
    const unsubscribe = io.onSignal(() => {
      unsubscribe();
      say("stopping: runs in progress are interrupted (every finished step is saved; resume them from Studio or with npm run runs -- resume ID)");
      for (const stop of active.values()) stop.abort(new Error("the Studio server is stopping"));
      resolve();
    });
  });
  // Runs record how they ended before the database closes.
  const deadline = Date.now() + 30_000;
  while (active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive connections and finished streams would hold close() open.
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
  db.close();
  return 0;
}

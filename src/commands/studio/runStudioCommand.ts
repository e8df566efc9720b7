/**
 * `npm run studio`: serves the run database to LangGraph Studio on 127.0.0.1 until Ctrl-C. Runs
 * started or resumed from Studio go through openPipelineRun, as `npm run graph` runs do.
 */
import fs from "node:fs";
import path from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import type { Env } from "../../config/env.ts";
import { isUserError } from "../../errors.ts";
import { RunDatabase } from "../../store/RunDatabase.ts";
import { terminalText } from "../../util/terminalText.ts";
import { whenListening } from "../../util/whenListening.ts";
import type { StudioOptions } from "./parseStudioArgs.ts";
import { createStudioApp } from "./studioApp.ts";
import { parseOrigin } from "./studioPolicy.ts";
import { studioRunOpener } from "./studioRunOpener.ts";

export interface StudioIo {
  stderr: NodeJS.WritableStream;
  env: Env;
  /** Subscribe to SIGINT/SIGTERM; returns an unsubscribe function. */
  onSignal: (handler: (signal: NodeJS.Signals) => void) => () => void;
}

export async function runStudioCommand(options: StudioOptions, io: StudioIo): Promise<number> {
  const say = (text: string) => io.stderr.write(`${terminalText(text)}\n`);
  const checked = checkedPlaces(options, io.env);
  if (typeof checked === "string") {
    say(checked);
    return 2;
  }
  const { roots, origins } = checked;
  const dbPath = path.resolve(options.db);
  let db: RunDatabase;
  try {
    db = RunDatabase.open(dbPath);
  } catch (e) {
    say(`error: ${(e as Error).message}${isUserError(e) && e.hint ? ` ${e.hint}` : ""}`);
    return 1;
  }
  db.markDeadRuns();

  const { app, active } = createStudioApp({ db, roots, origins, openRun: studioRunOpener(options, dbPath, io.env, say) });
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: options.port });
  const port = await listeningPort(server, options.port, say);
  if (port === undefined) {
    db.close();
    return 1;
  }
  const url = `http://127.0.0.1:${port}`;
  say(`Studio API: ${url} (database ${dbPath})`);
  say(`Open https://smith.langchain.com/studio/?baseUrl=${url} (the page needs internet in your browser; the API works offline).`);
  say(`Studio runs may use: ${roots.join(", ")}`);

  await stopSignal(io, active, say);
  await stopServer(server, active);
  db.close();
  return 0;
}

/** The root directories and allowed origins, or the usage error that refuses them. */
function checkedPlaces(options: StudioOptions, env: Env): { roots: string[]; origins: string[] } | string {
  // --root DIR, else where the user started `npm run studio` (npm runs scripts in the repo).
  const startDir = env.initCwd ?? process.cwd();
  const roots = (options.roots.length ? options.roots : [startDir]).map((r) => path.resolve(startDir, r));
  for (const r of roots) if (!fs.statSync(r, { throwIfNoEntry: false })?.isDirectory()) return `error: --root ${r} is not a directory`;
  try {
    return { roots, origins: [...env.studioOrigins, ...options.allowOrigins].map(parseOrigin) };
  } catch (e) {
    return `error: --allow-origin: ${(e as Error).message}`;
  }
}

/** The port the server listens on, or undefined (said) when it cannot listen. */
async function listeningPort(server: ServerType, asked: number, say: (text: string) => void): Promise<number | undefined> {
  try {
    return await whenListening(server);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    say(code === "EADDRINUSE" ? `error: port ${asked} is in use. Pass --port N (0 picks a free one).` : `error: ${(e as Error).message}`);
    return undefined;
  }
}

/** Resolves on the first SIGINT/SIGTERM, after asking every run in progress to stop. */
function stopSignal(io: StudioIo, active: ReadonlyMap<string, AbortController>, say: (text: string) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const unsubscribe = io.onSignal(() => {
      unsubscribe();
      say("stopping: runs in progress are interrupted (every finished step is saved; resume them from Studio or with npm run runs -- resume ID)");
      for (const stop of active.values()) stop.abort(new Error("the Studio server is stopping"));
      resolve();
    });
  });
}

async function stopServer(server: ServerType, active: ReadonlyMap<string, AbortController>): Promise<void> {
  // Runs record how they ended before the database closes.
  const deadline = Date.now() + 30_000;
  while (active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive connections and finished streams would hold close() open.
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

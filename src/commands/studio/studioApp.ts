/**
 * The HTTP app `npm run studio` serves: a request filter (studioPolicy.ts) and CORS in front of
 * LangGraph's embed server (threads, state, history, runs over the run database's checkpointer)
 * plus the few routes Studio calls that the embed server lacks (/ok, /info, the assistant of the
 * graph, its drawing and schemas, a thread's runs, runs/wait).
 */

import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { createEmbedServer } from "@langchain/langgraph-api/experimental/embed";
import { Hono } from "hono";
import type { RunDatabase } from "../../store/RunDatabase.ts";
import { addAssistantRoutes } from "./addAssistantRoutes.ts";
import { addRunRoutes } from "./addRunRoutes.ts";
import { RunIds, threadIdCheckpointer } from "./runIds.ts";
import { ASSISTANT_ID, GRAPH_ID, StudioThreads } from "./StudioThreads.ts";
import { buildServedGraph, buildStructureGraph, type ServedGraphDeps } from "./servedGraph.ts";
import { guardStudioApp } from "./studioGuards.ts";

export interface StudioAppOptions {
  db: RunDatabase;
  /** The only directories Studio runs may read and write. */
  roots: readonly string[];
  /** Browser origins allowed besides the hosted Studio and localhost pages. */
  origins: readonly string[];
  openRun: ServedGraphDeps["openRun"];
}

export interface StudioApp {
  app: Hono;
  /** Runs this server is working on, with the controllers that stop them (the runner stops them on Ctrl-C). */
  active: ReadonlyMap<string, AbortController>;
}

export function createStudioApp(options: StudioAppOptions): StudioApp {
  const active = new Map<string, AbortController>();
  const ids = new RunIds(options.db);
  const checkpointer: BaseCheckpointSaver = threadIdCheckpointer(options.db.checkpointer(), ids);
  const structure = buildStructureGraph(checkpointer);
  const threads = new StudioThreads(options.db, (id) => active.has(id), ids);
  const served = buildServedGraph(structure, {
    db: options.db,
    ids,
    roots: options.roots,
    openRun: options.openRun,
    active,
    onRunOpened: (id) => threads.promote(id),
  });
  // Studio calls the graph by its assistant ID, the SDK's examples by the graph ID: both name the one graph.
  const embed = createEmbedServer({ graph: { [GRAPH_ID]: served, [ASSISTANT_ID]: served }, threads, checkpointer });

  const app = new Hono();
  guardStudioApp(app, options.origins);
  app.get("/ok", (c) => c.json({ ok: true }));
  app.get("/info", (c) => c.json({ context: "js", flags: { assistants: true, crons: false, langsmith: false } }));
  addAssistantRoutes(app, structure);
  addRunRoutes(app, { threads, active, embed });
  app.route("/", embed);
  return { app, active };
}

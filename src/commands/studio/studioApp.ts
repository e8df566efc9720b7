/**
 * The HTTP app `npm run studio` serves: a request filter (studioPolicy.ts) and CORS in front of
 * LangGraph's embed server (threads, state, history, runs over the run database's checkpointer)
 * plus the few routes Studio calls that the embed server lacks (/ok, /info, the assistant of the
 * graph, its drawing and schemas, a thread's runs, runs/wait).
 */

import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { createEmbedServer } from "@langchain/langgraph-api/experimental/embed";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { PipelineGraph } from "../../../graphs/pipelineGraph.ts";
import { isUserError } from "../../errors.ts";
import type { RunDatabase } from "../../store/RunDatabase.ts";
import { RunIds, threadIdCheckpointer } from "./runIds.ts";
import { ASSISTANT_ID, GRAPH_ID, StudioThreads } from "./StudioThreads.ts";
import { buildServedGraph, buildStructureGraph, type ServedGraphDeps } from "./servedGraph.ts";
import { isAllowedOrigin, refuseRequest } from "./studioPolicy.ts";
import { studioSchemas } from "./studioSchemas.ts";

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

/** Request bodies above this are refused (413): Studio sends small JSON. */
const MAX_BODY_BYTES = 1024 * 1024;

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
  app.use("*", async (c, next) => {
    const refusal = refuseRequest(
      {
        method: c.req.method,
        origin: c.req.header("origin"),
        host: c.req.header("host"),
        contentType: c.req.header("content-type"),
        contentLength: c.req.header("content-length"),
        transferEncoding: c.req.header("transfer-encoding"),
      },
      options.origins,
    );
    if (refusal) return c.json({ error: refusal.status === 415 ? "Unsupported Media Type" : "Forbidden", message: refusal.message }, refusal.status);
    await next();
  });
  app.use(
    "*",
    cors({
      origin: (origin) => (isAllowedOrigin(origin, options.origins) ? origin : null),
      allowHeaders: ["Content-Type", "Authorization", "X-Api-Key", "X-Auth-Scheme"],
      exposeHeaders: ["Content-Location", "X-Pagination-Total", "X-Pagination-Next"],
    }),
  );
  app.use(
    "*",
    bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ error: "Payload Too Large", message: "Request bodies are limited to 1 MiB." }, 413) }),
  );
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    if (isUserError(err)) return c.json({ error: err.code, message: err.message, hint: err.hint ?? null }, statusOf(err.code));
    return c.json({ error: "Internal Server Error", message: (err as Error).message }, 500);
  });

  app.get("/ok", (c) => c.json({ ok: true }));
  app.get("/info", (c) => c.json({ context: "js", flags: { assistants: true, crons: false, langsmith: false } }));
  addAssistantRoutes(app, structure);
  // The embed server's experimental event protocol (run.start commands, /stream/events) starts runs without a disconnect signal
  // and with another streaming format: not offered; Studio's run routes are /threads/{id}/runs/stream and runs/wait.
  for (const route of ["/threads/:thread_id/commands", "/threads/:thread_id/stream/events"])
    app.on(["GET", "POST"], route, (c) => c.json({ error: "Not offered by this server: stream runs with /threads/{id}/runs/stream." }, 404));
  // A run is a thread: stateless runs (no thread) would be deleted when they end, so they are not offered.
  for (const route of ["/runs", "/runs/stream", "/runs/wait", "/runs/batch"])
    app.post(route, (c) => c.json({ error: "Runs start in a thread here (its ID becomes the run ID): create a thread, then run in it." }, 422));
  app.post("/threads/count", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { metadata?: Record<string, unknown> };
    const metadata = body.metadata && typeof body.metadata === "object" ? body.metadata : undefined;
    let total = 0;
    for await (const item of threads.search({ ...(metadata ? { metadata } : {}), limit: 1, offset: 0, sortBy: "created_at", sortOrder: "desc" }))
      total = item.total;
    return c.json(total);
  });
  // A thread's one run, as the LangGraph API lists runs (its run ID is the thread ID).
  const runOf = async (threadId: string) => {
    const thread = await threads.get(threadId);
    if (threads.isPending(thread.thread_id)) return undefined;
    return {
      run_id: thread.thread_id,
      thread_id: thread.thread_id,
      assistant_id: ASSISTANT_ID,
      created_at: thread.created_at,
      updated_at: thread.updated_at,
      status: { busy: "running", idle: "success", interrupted: "interrupted", error: "error" }[thread.status],
      metadata: thread.metadata,
      kwargs: {},
      multitask_strategy: "reject",
    };
  };
  app.get("/threads/:thread_id/runs", async (c) => {
    const run = await runOf(c.req.param("thread_id"));
    return c.json(run ? [run] : []);
  });
  app.get("/threads/:thread_id/runs/:run_id", async (c) => {
    const run = await runOf(c.req.param("thread_id"));
    if (!run) throw new HTTPException(404, { message: "This thread has no run yet." });
    return c.json(run);
  });
  // Cancel (Studio's stop button): the thread's run is interrupted, every finished step saved.
  app.post("/threads/:thread_id/runs/:run_id/cancel", (c) => {
    active.get(c.req.param("thread_id"))?.abort(new Error("cancelled from Studio"));
    return c.body(null, 204);
  });
  // runs.wait: the embed server only streams; wait for the stream's last values.
  app.post("/threads/:thread_id/runs/wait", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as Record<string, unknown>;
    const res = await embed.request(
      `/threads/${encodeURIComponent(c.req.param("thread_id"))}/runs/stream`,
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, stream_mode: ["values"] }), signal: c.req.raw.signal },
      undefined,
    );
    if (!res.ok || !res.body) return new Response(res.body, { status: res.status, headers: { "content-type": "application/json" } });
    let last: unknown = null;
    let error: unknown;
    for (const event of parseSse(await res.text())) {
      if (event.event === "values") last = event.data;
      if (event.event === "error") error = event.data;
    }
    if (error !== undefined) return c.json(error as object, 500);
    return c.json(last as object);
  });
  // The SDK sends getState(thread, checkpoint, {subgraphs: true}) with a JSON boolean, which the embed server's validator reads as a string only.
  app.post("/threads/:thread_id/state/checkpoint", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { subgraphs?: unknown; checkpoint?: unknown };
    const subgraphs = body.subgraphs === true || body.subgraphs === "true" ? "true" : "false";
    return embed.request(
      `/threads/${encodeURIComponent(c.req.param("thread_id"))}/state/checkpoint`,
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ checkpoint: body.checkpoint, subgraphs }) },
      undefined,
    );
  });
  app.route("/", embed);
  return { app, active };
}

function addAssistantRoutes(app: Hono, structure: PipelineGraph): void {
  const assistant = {
    assistant_id: ASSISTANT_ID,
    graph_id: GRAPH_ID,
    name: GRAPH_ID,
    description: "Rust research notes -> knowledge base of idiomatic patterns (the pipeline `npm run graph` runs)",
    config: {},
    context: {},
    metadata: { created_by: "system" },
    version: 1,
    created_at: new Date(0).toISOString(),
    updated_at: new Date(0).toISOString(),
  };
  const known = (id: string) => {
    if (id !== ASSISTANT_ID && id !== GRAPH_ID) throw new HTTPException(404, { message: `There is no assistant ${id}: this server has one, ${GRAPH_ID}.` });
  };
  app.post("/assistants/search", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { graph_id?: string; offset?: number };
    const list = (body.graph_id === undefined || body.graph_id === GRAPH_ID) && !(body.offset && body.offset > 0) ? [assistant] : [];
    c.header("X-Pagination-Total", String(list.length));
    return c.json(list);
  });
  app.post("/assistants/count", (c) => c.json(1));
  app.get("/assistants/:id", (c) => {
    known(c.req.param("id"));
    return c.json(assistant);
  });
  app.post("/assistants/:id/versions", (c) => {
    known(c.req.param("id"));
    return c.json([assistant]);
  });
  app.get("/assistants/:id/graph", async (c) => {
    known(c.req.param("id"));
    const xray = c.req.query("xray");
    const depth = xray === undefined || xray === "false" ? undefined : /^\d+$/.test(xray) ? Number(xray) : true;
    return c.json((await structure.getGraphAsync({ xray: depth })).toJSON());
  });
  app.get("/assistants/:id/schemas", (c) => {
    known(c.req.param("id"));
    return c.json(studioSchemas().pipeline);
  });
  app.get("/assistants/:id/subgraphs/:namespace?", (c) => {
    known(c.req.param("id"));
    const ns = c.req.param("namespace");
    const subgraphs = { processFile: studioSchemas().file };
    return c.json(ns === undefined ? subgraphs : ns === "processFile" ? subgraphs : {});
  });
}

/** HTTP status of a refused Studio request. */
function statusOf(code: string): ContentfulStatusCode {
  if (code === "RUN_LOCKED") return 409;
  if (code === "PATH_OUTSIDE_ROOTS") return 403;
  return 422;
}

/** Events of a complete server-sent-events body. */
function parseSse(text: string): { event: string; data: unknown }[] {
  const events: { event: string; data: unknown }[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length === 0) continue;
    try {
      events.push({ event, data: JSON.parse(data.join("\n")) });
    } catch {
      events.push({ event, data: data.join("\n") });
    }
  }
  return events;
}

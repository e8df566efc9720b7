/**
 * The run routes Studio calls that the embed server lacks or answers in another shape: a thread's
 * one run (its ID is the thread ID), cancel, runs.wait, thread count, getState with subgraphs; and
 * clear refusals for the run routes this server does not offer.
 */
import type { Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { ASSISTANT_ID, type StudioThreads } from "./StudioThreads.ts";

export interface RunRoutesDeps {
  threads: StudioThreads;
  /** Runs this server is working on, with the controllers that stop them. */
  active: ReadonlyMap<string, AbortController>;
  /** LangGraph's embed server, which streams the runs these routes wait for. */
  embed: Hono;
}

/** Adds the run routes, in this order, before the embed server's own. */
export function addRunRoutes(app: Hono, deps: RunRoutesDeps): void {
  refuseUnofferedRuns(app);
  const { threads, active, embed } = deps;
  app.post("/threads/count", async (c) => c.json(await countThreads(threads, c)));
  app.get("/threads/:thread_id/runs", async (c) => {
    const run = await runOf(threads, c.req.param("thread_id"));
    return c.json(run ? [run] : []);
  });
  app.get("/threads/:thread_id/runs/:run_id", async (c) => {
    const run = await runOf(threads, c.req.param("thread_id"));
    if (!run) throw new HTTPException(404, { message: "This thread has no run yet." });
    return c.json(run);
  });
  // Cancel (Studio's stop button): the thread's run is interrupted, every finished step saved.
  app.post("/threads/:thread_id/runs/:run_id/cancel", (c) => {
    active.get(c.req.param("thread_id"))?.abort(new Error("cancelled from Studio"));
    return c.body(null, 204);
  });
  app.post("/threads/:thread_id/runs/wait", (c) => waitForRun(embed, c, c.req.param("thread_id")));
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
}

function refuseUnofferedRuns(app: Hono): void {
  // The embed server's experimental event protocol (run.start commands, /stream/events) starts runs without a disconnect signal
  // and with another streaming format: not offered; Studio's run routes are /threads/{id}/runs/stream and runs/wait.
  for (const route of ["/threads/:thread_id/commands", "/threads/:thread_id/stream/events"])
    app.on(["GET", "POST"], route, (c) => c.json({ error: "Not offered by this server: stream runs with /threads/{id}/runs/stream." }, 404));
  // A run is a thread: stateless runs (no thread) would be deleted when they end, so they are not offered.
  for (const route of ["/runs", "/runs/stream", "/runs/wait", "/runs/batch"])
    app.post(route, (c) => c.json({ error: "Runs start in a thread here (its ID becomes the run ID): create a thread, then run in it." }, 422));
}

async function countThreads(threads: StudioThreads, c: Context): Promise<number> {
  const body = (await c.req.json().catch(() => ({}))) as { metadata?: Record<string, unknown> };
  const metadata = body.metadata && typeof body.metadata === "object" ? body.metadata : undefined;
  let total = 0;
  for await (const item of threads.search({ ...(metadata ? { metadata } : {}), limit: 1, offset: 0, sortBy: "created_at", sortOrder: "desc" }))
    total = item.total;
  return total;
}

/** A thread's one run, as the LangGraph API lists runs (its run ID is the thread ID). */
async function runOf(threads: StudioThreads, threadId: string) {
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
}

/** runs.wait: the embed server only streams; wait for the stream's last values. */
async function waitForRun(embed: Hono, c: Context, threadId: string): Promise<Response> {
  const body = (await c.req.json().catch(() => ({}))) as Record<string, unknown>;
  const res = await embed.request(
    `/threads/${encodeURIComponent(threadId)}/runs/stream`,
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

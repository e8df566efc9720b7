/** The routes of the server's one assistant (the pipeline graph): search, count, get, versions, drawing, schemas, subgraphs. */
import type { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { PipelineGraph } from "../../../graphs/pipelineGraph.ts";
import { ASSISTANT_ID, GRAPH_ID } from "./StudioThreads.ts";
import { studioSchemas } from "./studioSchemas.ts";

export function addAssistantRoutes(app: Hono, structure: PipelineGraph): void {
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

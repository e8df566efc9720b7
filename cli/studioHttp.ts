/**
 * The LangGraph dev server's custom HTTP app (langgraph.json `http.app`): mounted before the
 * API's own routes, its middleware refuses what a web page in the user's browser could send —
 * a foreign Origin (403), a Host other than the loopback name (403, DNS rebinding), a body that is
 * not JSON (415; the API would otherwise read text/plain as JSON) — so such requests never reach
 * the runs API. CORS headers themselves come from langgraph.json's `http.cors` (the same origins).
 */
import { Hono } from "hono";
import { readEnv } from "../src/config/env.ts";
import { refuseRequest } from "../src/studio/studioPolicy.ts";

const origins = readEnv().studioOrigins;

export const app = new Hono();
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
    origins,
  );
  if (refusal) return c.json({ error: refusal.status === 415 ? "Unsupported Media Type" : "Forbidden", message: refusal.message }, refusal.status);
  await next();
});

/**
 * What stands in front of every Studio route: the request filter (studioPolicy.ts), CORS for the
 * allowed origins, the body limit, and the mapping of errors to JSON answers.
 */
import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { isUserError } from "../../errors.ts";
import { isAllowedOrigin, refuseRequest } from "./studioPolicy.ts";

/** Request bodies above this are refused (413): Studio sends small JSON. */
const MAX_BODY_BYTES = 1024 * 1024;

/** Installs the guards on `app`; they must come before any route. */
export function guardStudioApp(app: Hono, origins: readonly string[]): void {
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
  app.use(
    "*",
    cors({
      origin: (origin) => (isAllowedOrigin(origin, origins) ? origin : null),
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
}

/** HTTP status of a refused Studio request. */
function statusOf(code: string): ContentfulStatusCode {
  if (code === "RUN_LOCKED") return 409;
  if (code === "PATH_OUTSIDE_ROOTS") return 403;
  return 422;
}

/**
 * The MCP server over Streamable HTTP (`npm run kb -- mcp --http PORT`, on 127.0.0.1): Studio's
 * request filter (src/commands/studio/studioPolicy.ts: loopback Host only, JSON bodies only) with
 * loopback pages as the only browser origin, then the SDK's web-standard transport at `/mcp`.
 * Stateless: each request gets its own server and transport over the one KbReader, and answers
 * with JSON (no session, no event stream to keep).
 */
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { KbReader } from "../../../kb/KbReader.ts";
import { isLoopbackOrigin, refuseRequest } from "../../studio/studioPolicy.ts";
import { createKbMcpServer } from "./kbMcpServer.ts";

/** MCP requests are small JSON-RPC messages. */
const MAX_BODY_BYTES = 256 * 1024;

export function createMcpHttpApp(reader: KbReader, version: string): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && !isLoopbackOrigin(origin))
      return c.json(
        { error: "Forbidden", message: `Requests from ${origin} are refused: only pages on this machine's loopback address may call this server.` },
        403,
      );
    const refusal = refuseRequest({
      method: c.req.method,
      origin,
      host: c.req.header("host"),
      contentType: c.req.header("content-type"),
      contentLength: c.req.header("content-length"),
      transferEncoding: c.req.header("transfer-encoding"),
    });
    if (refusal) return c.json({ error: refusal.status === 415 ? "Unsupported Media Type" : "Forbidden", message: refusal.message }, refusal.status);
    await next();
  });
  app.use("*", bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ error: "Payload Too Large" }, 413) }));
  // Stateless: no session to delete and nothing the server would push on a GET stream.
  app.on(["GET", "DELETE"], "/mcp", (c) =>
    c.json({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed: this server is stateless; send requests with POST." }, id: null }, 405, {
      Allow: "POST",
    }),
  );
  app.post("/mcp", async (c) => {
    const server = createKbMcpServer(reader, version);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw);
    } finally {
      await server.close();
    }
  });
  app.notFound((c) => c.json({ error: "Not Found", message: "The MCP endpoint is /mcp." }, 404));
  return app;
}

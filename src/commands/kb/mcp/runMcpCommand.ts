/**
 * `npm run kb -- mcp`: serves the knowledge base to coding assistants over MCP, on stdio (the
 * assistant starts this process) or, with `--http PORT`, on http://127.0.0.1:PORT/mcp. Read-only:
 * the store is opened read-only, nothing in the directory is written. stdout carries the protocol
 * on stdio, so everything else goes to stderr.
 */
import fs from "node:fs";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { isUserError } from "../../../errors.ts";
import { KbReader } from "../../../kb/KbReader.ts";
import { REPO_ROOT } from "../../../util/nodeEntry.ts";
import { terminalText } from "../../../util/terminalText.ts";
import { whenListening } from "../../../util/whenListening.ts";
import { createKbMcpServer } from "./kbMcpServer.ts";

export interface McpOptions {
  /** The knowledge-base directory. */
  kb: string;
  /** Serve over HTTP on this port of 127.0.0.1 (0 picks a free one) instead of stdio. */
  http?: number;
}

export interface McpIo {
  stdin: Readable;
  stdout: Writable;
  stderr: NodeJS.WritableStream;
  /** Subscribe to SIGINT/SIGTERM; returns an unsubscribe function. */
  onSignal: (handler: (signal: NodeJS.Signals) => void) => () => void;
  /** Called with the HTTP server's URL once it listens (tests connect to it). */
  onListening?: (url: string) => void;
}

export async function runMcpCommand(options: McpOptions, io: McpIo): Promise<number> {
  const say = (text: string) => io.stderr.write(`${terminalText(text)}\n`);
  const reader = new KbReader(options.kb);
  const version = packageVersion();
  try {
    const s = reader.snapshot();
    say(`rust-kb MCP server ${version}: ${s.entries().length} patterns in ${reader.dir} (read-only).`);
  } catch (e) {
    // The server still starts: an assistant configured before the first run gets the reason with each answer.
    say(`rust-kb MCP server ${version}: ${isUserError(e) ? `${e.message} ${e.hint ?? ""}` : (e as Error).message}`);
  }
  try {
    if (options.http !== undefined) return await serveHttp(reader, version, options.http, io, say);
    return await serveStdio(reader, version, io);
  } finally {
    reader.close();
  }
}

async function serveStdio(reader: KbReader, version: string, io: McpIo): Promise<number> {
  // Each mode loads only its own transport: an assistant waits for this process's start.
  const { StdioServerTransport } = await import("@modelcontextprotocol/sdk/server/stdio.js");
  const server = createKbMcpServer(reader, version);
  const transport = new StdioServerTransport(io.stdin, io.stdout);
  let unsubscribe = () => {};
  // The assistant stops the server by closing its stdin, or with a signal.
  const stopped = new Promise<void>((resolve) => {
    unsubscribe = io.onSignal(() => resolve());
    io.stdin.once("end", () => resolve());
    io.stdin.once("close", () => resolve());
  });
  await server.connect(transport);
  await stopped;
  unsubscribe();
  await server.close();
  return 0;
}

async function serveHttp(reader: KbReader, version: string, port: number, io: McpIo, say: (text: string) => void): Promise<number> {
  const [{ serve }, { createMcpHttpApp }] = await Promise.all([import("@hono/node-server"), import("./mcpHttpApp.ts")]);
  const app = createMcpHttpApp(reader, version);
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port });
  let bound: number;
  try {
    bound = await whenListening(server);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    say(code === "EADDRINUSE" ? `error: port ${port} is in use. Pass --http N with another port (0 picks a free one).` : `error: ${(e as Error).message}`);
    return 1;
  }
  const url = `http://127.0.0.1:${bound}/mcp`;
  say(`MCP endpoint: ${url} (Streamable HTTP; only this machine's loopback address answers). Ctrl-C stops it.`);
  io.onListening?.(url);
  await new Promise<void>((resolve) => {
    const unsubscribe = io.onSignal(() => {
      unsubscribe();
      resolve();
    });
  });
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
  return 0;
}

function packageVersion(): string {
  try {
    return String((JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version?: unknown }).version ?? "0.0.0");
  } catch {
    return "0.0.0";
  }
}

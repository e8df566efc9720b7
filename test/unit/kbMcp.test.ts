/**
 * `npm run kb -- mcp`: the knowledge base served over MCP, checked with the SDK's own client over
 * stdio (the CLI as an assistant starts it) and over HTTP, against a knowledge base the pipeline
 * wrote (runPipeline with a scripted model).
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKbCommand } from "../../src/commands/kb/kbCommand.ts";
import { runMcpCommand } from "../../src/commands/kb/mcp/runMcpCommand.ts";
import { parseKbArgs } from "../../src/commands/kb/parseKbArgs.ts";
import { KbReader } from "../../src/kb/KbReader.ts";
import { openSqlite } from "../../src/store/openSqlite.ts";
import { tsxEntryArgs } from "../../src/util/nodeEntry.ts";
import { REPO } from "../helpers/cli.ts";
import { writeNotesKb } from "../helpers/notesKb.ts";

let dir: string;
let out: string;

/** Every file under a directory with its size and modification time: "nothing written" is this not changing. */
function tree(root: string): Record<string, string> {
  const seen: Record<string, string> = {};
  for (const name of fs.readdirSync(root, { recursive: true }) as string[]) {
    const st = fs.statSync(path.join(root, name));
    seen[name] = st.isDirectory() ? "dir" : `${st.size}:${st.mtimeMs}`;
  }
  return seen;
}

/** What `npm run kb -- search QUERY --json` answers. */
function cliSearch(query: string, kbDir = out): string[] {
  const parsed = parseKbArgs(["search", query, "--json", "--out", kbDir]);
  if (parsed.kind !== "run") throw new Error("parse");
  const stdout = new PassThrough();
  runKbCommand(parsed.options, { stdout, stderr: new PassThrough() });
  return (JSON.parse(stdout.read()?.toString() ?? "{}").hits as { slug: string }[]).map((h) => h.slug);
}

type ToolResult = { content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean };
const call = async (client: Client, name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as ToolResult;
const slugsOf = (r: ToolResult) => (r.structuredContent?.hits as { slug: string }[]).map((h) => h.slug);

/** An MCP server over HTTP in this process, as `npm run kb -- mcp --http 0` runs it. */
async function httpServer(kbDir: string): Promise<{ url: string; stop: () => Promise<number> }> {
  let stop: (() => void) | undefined;
  let listening: (url: string) => void = () => {};
  const url = new Promise<string>((resolve) => {
    listening = resolve;
  });
  const done = runMcpCommand(
    { kb: kbDir, http: 0 },
    {
      stdin: new PassThrough(),
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      onSignal: (handler) => {
        stop = () => handler("SIGINT");
        return () => {};
      },
      onListening: listening,
    },
  );
  return {
    url: await url,
    stop: async () => {
      stop?.();
      return done;
    },
  };
}

async function httpClient(url: string): Promise<Client> {
  const client = new Client({ name: "kb-mcp-test", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** A raw request, to send what a browser page or a DNS-rebinding page would. */
function rawPost(url: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end(body);
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-mcp-"));
  ({ out } = await writeNotesKb(dir));
}, 60_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the MCP server over stdio, started as an assistant starts it", () => {
  it("answers search, get_pattern and list_categories and serves the pages as resources, writing nothing", async () => {
    const before = tree(out);
    const transport = new StdioClientTransport({ command: process.execPath, args: tsxEntryArgs("cli/kb.ts", "mcp", "--kb", out), cwd: REPO, stderr: "pipe" });
    const client = new Client({ name: "kb-mcp-test", version: "1" });
    await client.connect(transport);
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(["get_pattern", "list_categories", "search_patterns"]);

      // The same top hits as `npm run kb -- search`, for several kinds of query.
      for (const query of ["newtype", "error", "mem::take", "C-BUILDER", "value type"]) {
        const r = await call(client, "search_patterns", { query });
        expect(r.isError).toBeFalsy();
        expect(slugsOf(r)).toEqual(cliSearch(query));
      }

      // A pattern is its page, byte for byte as the run wrote it (escaped and linked the same way), plus the data.
      const page = await call(client, "get_pattern", { ref: "newtype" });
      expect(page.content[0]?.text).toBe(fs.readFileSync(path.join(out, "patterns", "newtype.md"), "utf8"));
      expect(page.structuredContent).toMatchObject({
        slug: "newtype",
        page: "patterns/newtype.md",
        category: "type-safety",
        example: { code: "struct Meters(f64);", path: "newtype.md", lines: "5-7", link: "../../notes/newtype.md#L5-L7", verdict: "not-checkable" },
        sources: [{ path: "newtype.md", link: "../../notes/newtype.md" }],
        apiGuidelines: [{ id: "C-NEWTYPE" }],
      });
      // By name as well as slug.
      expect((await call(client, "get_pattern", { ref: "Avoid unwrap on Result" })).structuredContent?.slug).toBe("avoid-unwrap-on-result");

      const categories = await call(client, "list_categories");
      expect(categories.structuredContent).toMatchObject({
        entries: 5,
        categories: [
          { id: "ownership-borrowing", count: 1 },
          { id: "error-handling", count: 2 },
          { id: "type-safety", count: 1 },
          { id: "design-patterns", count: 1 },
        ],
      });

      const resources = (await client.listResources()).resources.map((r) => r.uri);
      expect(resources).toEqual(expect.arrayContaining(["rust-kb://index", "rust-kb://pattern/builder", "rust-kb://category/error-handling"]));
      const builder = await client.readResource({ uri: "rust-kb://pattern/builder" });
      expect(builder.contents[0]).toMatchObject({ mimeType: "text/markdown", text: fs.readFileSync(path.join(out, "patterns", "builder.md"), "utf8") });
      const index = await client.readResource({ uri: "rust-kb://index" });
      expect(index.contents[0]).toMatchObject({ text: fs.readFileSync(path.join(out, "index.md"), "utf8") });

      // Errors: an unknown pattern is a tool error naming near matches; an unknown page an MCP error.
      const unknown = await call(client, "get_pattern", { ref: "newtypes pattern wrapper" });
      expect(unknown.isError).toBe(true);
      expect(unknown.content[0]?.text).toMatch(/^No pattern "newtypes pattern wrapper" in the knowledge base\. Did you mean: newtype/);
      const missing = await client.readResource({ uri: "rust-kb://pattern/no-such-pattern" }).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(McpError);
      expect(missing).toMatchObject({ code: -32002, message: expect.stringMatching(/No pattern "no-such-pattern"/) });
      // Arguments outside the schema are refused before anything runs.
      expect((await call(client, "search_patterns", { query: "x", limit: 500 })).isError).toBe(true);
    } finally {
      await client.close();
    }
    expect(tree(out)).toEqual(before);
  }, 60_000);
});

describe("the MCP server over HTTP on 127.0.0.1", () => {
  it("answers the SDK's client like stdio does, with the filters, and stops on Ctrl-C", async () => {
    const server = await httpServer(out);
    const client = await httpClient(server.url);
    try {
      expect(slugsOf(await call(client, "search_patterns", { query: "error" }))).toEqual(cliSearch("error"));
      // Filters narrow before the limit: by category, Clippy lint and API guideline.
      expect(slugsOf(await call(client, "search_patterns", { query: "error", category: "error-handling" })).sort()).toEqual([
        "avoid-unwrap-on-result",
        "custom-error-types",
      ]);
      expect(slugsOf(await call(client, "search_patterns", { query: "error", lint: "clippy::unwrap_used" }))).toEqual(["avoid-unwrap-on-result"]);
      expect(slugsOf(await call(client, "search_patterns", { query: "build", guideline: "c-builder" }))).toEqual(["builder"]);
      expect(slugsOf(await call(client, "search_patterns", { query: "newtype", category: "async" }))).toEqual([]);
      expect((await call(client, "get_pattern", { ref: "builder" })).content[0]?.text).toBe(fs.readFileSync(path.join(out, "patterns", "builder.md"), "utf8"));
    } finally {
      await client.close();
    }
    expect(await server.stop()).toBe(0);
  });

  it("refuses foreign origins, other Host names and non-JSON bodies before the MCP endpoint (the filter Studio has)", async () => {
    const server = await httpServer(out);
    try {
      const init = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      });
      const json = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
      expect(await rawPost(server.url, json, init)).toBe(200);
      expect(await rawPost(server.url, { ...json, Origin: "https://evil.example" }, init)).toBe(403);
      // The hosted Studio may call Studio, not this server.
      expect(await rawPost(server.url, { ...json, Origin: "https://smith.langchain.com" }, init)).toBe(403);
      expect(await rawPost(server.url, { ...json, Origin: "http://localhost:5173" }, init)).toBe(200);
      expect(await rawPost(server.url, { ...json, Host: "attacker.example:80" }, init)).toBe(403);
      expect(await rawPost(server.url, { ...json, "Content-Type": "text/plain" }, init)).toBe(415);
    } finally {
      await server.stop();
    }
  });
});

describe("MCP errors say what to do", () => {
  it("without a knowledge base the server starts and every answer says how to build one; a KB of another version is refused", async () => {
    const empty = path.join(dir, "not-yet");
    const server = await httpServer(empty);
    const client = await httpClient(server.url);
    try {
      const r = await call(client, "search_patterns", { query: "newtype" });
      expect(r.isError).toBe(true);
      expect(r.content[0]?.text).toMatch(/^There is no knowledge base in .*not-yet yet\. Build one with `npm run graph/);
      expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(["rust-kb://index"]);
      await expect(client.readResource({ uri: "rust-kb://index" })).rejects.toThrow(/There is no knowledge base/);
      expect(fs.existsSync(empty)).toBe(false);

      // The knowledge base appears (a copy of the test's) while the server runs: the next answer uses it.
      fs.cpSync(out, empty, { recursive: true });
      expect(slugsOf(await call(client, "search_patterns", { query: "newtype" }))).toEqual(cliSearch("newtype"));

      // Another version wrote the store: refused with the versions and what to do.
      const db = openSqlite(path.join(empty, ".kb", "kb.sqlite"));
      db.prepare("UPDATE meta SET value = '99' WHERE key = 'schemaVersion'").run();
      db.close();
      const old = await call(client, "list_categories");
      expect(old.isError).toBe(true);
      expect(old.content[0]?.text).toMatch(/written by another version of rust-kb \(store version 99; this version reads 2\)\. Run `npm run graph` again/);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it("a store finalized before versions were recorded is judged by kb.json's schemaVersion", () => {
    const legacy = path.join(dir, "legacy");
    fs.cpSync(out, legacy, { recursive: true });
    const db = openSqlite(path.join(legacy, ".kb", "kb.sqlite"));
    db.prepare("DELETE FROM meta WHERE key = 'schemaVersion'").run();
    db.close();
    const reader = new KbReader(legacy);
    expect(reader.snapshot().entries()).toHaveLength(5);
    reader.close();
    const kbJson = path.join(legacy, "kb.json");
    fs.writeFileSync(kbJson, fs.readFileSync(kbJson, "utf8").replace('"schemaVersion": 2', '"schemaVersion": 1'));
    expect(() => new KbReader(legacy).snapshot()).toThrow(/kb\.json schemaVersion 1; this version reads 2/);
  });
});

describe("npm run kb -- mcp arguments", () => {
  it("takes --kb (or --out) and --http PORT, and refuses what does not apply", () => {
    expect(parseKbArgs(["mcp"])).toEqual({ kind: "mcp", options: { kb: "./kb" } });
    expect(parseKbArgs(["mcp", "--kb", "my-kb", "--http", "0"])).toEqual({ kind: "mcp", options: { kb: "my-kb", http: 0 } });
    expect(parseKbArgs(["mcp", "--out", "my-kb"])).toEqual({ kind: "mcp", options: { kb: "my-kb" } });
    expect(parseKbArgs(["search", "x", "--kb", "k"])).toMatchObject({ kind: "run", options: { out: "k" } });
    expect(parseKbArgs(["mcp", "--kb", "a", "--out", "b"])).toEqual({ kind: "error", message: "--out and --kb name the same directory: pass one" });
    expect(parseKbArgs(["mcp", "--http", "70000"]).kind).toBe("error");
    expect(parseKbArgs(["mcp", "--http", "-1"]).kind).toBe("error");
    expect(parseKbArgs(["mcp", "--json"]).kind).toBe("error");
    expect(parseKbArgs(["search", "x", "--http", "8080"])).toEqual({ kind: "error", message: "--http applies to mcp only" });
  });
});

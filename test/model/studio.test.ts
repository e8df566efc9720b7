/**
 * LangGraph Studio path: the dev server starts offline on loopback and a run of the exported graph
 * completes through @langchain/langgraph-sdk.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Client } from "@langchain/langgraph-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tsxEntryArgs } from "../../src/util/nodeEntry.ts";
import { REPO } from "../helpers/cli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

let server: ChildProcess;
let port: number;
let tmp: string;
let log = "";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

async function waitOk(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(`${url}/ok`);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`dev server did not start:\n${log}`);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-studio-"));
  port = await freePort();
  server = spawn(process.execPath, tsxEntryArgs("cli/studioServer.ts", "--port", String(port), "--no-reload", "--root", tmp), {
    cwd: REPO,
    detached: true,
    env: {
      ...process.env,
      RUST_KB_MODEL: sharedModel("llama-2-tiny-random-chatml.gguf"),
      RUST_KB_THREADS: "1",
      RUST_KB_STUDIO_DB: path.join(tmp, "studio.sqlite"),
      RUST_KB_OFFLINE: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout?.on("data", (d) => {
    log += d;
    if (process.env.STUDIO_DEBUG) process.stderr.write(d);
  });
  server.stderr?.on("data", (d) => {
    log += d;
  });
  await waitOk(`http://127.0.0.1:${port}`, 90_000);
}, 120_000);

afterAll(() => {
  // The dev server runs its API in child processes: stop the whole group we started.
  if (server.pid) {
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("LangGraph dev server (Studio)", () => {
  it("serves the graph with its nodes and completes a run through the SDK", async () => {
    const client = new Client({ apiUrl: `http://127.0.0.1:${port}` });
    const [assistant] = await client.assistants.search({ graphId: "rust_kb" });
    expect(assistant).toBeDefined();
    const drawn = JSON.stringify(await client.assistants.getGraph(assistant?.assistant_id ?? "", { xray: true }));
    for (const node of ["discover", "processFile", "finalize"]) expect(drawn).toContain(node);

    const input = path.join(tmp, "notes");
    fs.mkdirSync(input);
    fs.copyFileSync(sharedCorpus("rust-research", "rust-patterns/idioms/default.md"), path.join(input, "default.md"));
    const out = path.join(tmp, "kb");
    const thread = await client.threads.create();
    const result = (await client.runs.wait(thread.thread_id, "rust_kb", { input: { inputDir: input, outDir: out } })) as {
      found: number;
      results: unknown[];
      kb: unknown;
    };
    expect(result.found).toBe(1);
    expect(result.results).toHaveLength(1);
    expect(result.kb).not.toBeNull();
    expect(fs.existsSync(path.join(out, "index.md"))).toBe(true);
    const state = await client.threads.getState(thread.thread_id);
    expect(state.next).toEqual([]);
  });
});

/** A raw request, so Origin and Host can be what a hostile page's browser would send. */
function raw(
  method: string,
  route: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path: route, method, headers: { ...(body ? { "content-length": String(Buffer.byteLength(body)) } : {}), ...headers } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("LangGraph dev server refuses what a web page could send", () => {
  const pwnInput = () => ({ assistant_id: "rust_kb", input: { inputDir: path.join(tmp, "secret"), outDir: path.join(tmp, "pwn-kb") } });

  it("refuses a cross-origin text/plain POST to /runs/wait and /threads/{id}/runs/wait, and writes nothing", async () => {
    fs.mkdirSync(path.join(tmp, "secret"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "secret", "notes.md"), "# Secret\n\n```rust\nfn main() {}\n```\n");
    const thread = await new Client({ apiUrl: `http://127.0.0.1:${port}` }).threads.create();
    for (const route of ["/runs/wait", `/threads/${thread.thread_id}/runs/wait`]) {
      const r = await raw(
        "POST",
        route,
        { host: `127.0.0.1:${port}`, origin: "https://evil.example", "content-type": "text/plain;charset=UTF-8" },
        JSON.stringify(pwnInput()),
      );
      expect(r.status, route).toBe(403);
      expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    }
    // Without an Origin (not a browser) a text/plain body is refused as well.
    const plain = await raw("POST", "/runs/wait", { host: `127.0.0.1:${port}`, "content-type": "text/plain" }, JSON.stringify(pwnInput()));
    expect(plain.status).toBe(415);
    const form = await raw("POST", "/runs/wait", { host: `127.0.0.1:${port}`, "content-type": "application/x-www-form-urlencoded" }, "a=b");
    expect(form.status).toBe(415);
    await new Promise((r) => setTimeout(r, 1000));
    expect(fs.existsSync(path.join(tmp, "pwn-kb"))).toBe(false);
  });

  it("answers CORS only for the hosted Studio and localhost, and refuses a DNS-rebinding Host", async () => {
    const preflight = (origin: string) =>
      raw("OPTIONS", "/runs/wait", {
        host: `127.0.0.1:${port}`,
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      });
    expect((await preflight("https://evil.example")).headers["access-control-allow-origin"]).toBeUndefined();
    expect((await preflight("https://smith.langchain.com")).headers["access-control-allow-origin"]).toBe("https://smith.langchain.com");
    expect((await preflight("http://localhost:3000")).headers["access-control-allow-origin"]).toBe("http://localhost:3000");
    expect((await raw("GET", "/ok", { host: `127.0.0.1:${port}`, origin: "https://evil.example" })).status).toBe(403);
    expect((await raw("GET", "/info", { host: `evil.example:${port}` })).status).toBe(403);
    expect((await raw("GET", "/ok", { host: `localhost:${port}` })).status).toBe(200);
  });

  it("refuses a WebSocket upgrade from a foreign origin (CORS does not apply to WebSockets)", async () => {
    const thread = await new Client({ apiUrl: `http://127.0.0.1:${port}` }).threads.create();
    const upgrade = {
      host: `127.0.0.1:${port}`,
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    };
    const refused = await raw("GET", `/threads/${thread.thread_id}/stream/events`, { ...upgrade, origin: "https://evil.example" });
    expect(refused.status).toBe(403);
  });

  it("refuses a JSON run whose outDir is outside the server's roots, and writes nothing there", async () => {
    const client = new Client({ apiUrl: `http://127.0.0.1:${port}` });
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "kb-studio-outside-"));
    try {
      const thread = await client.threads.create();
      await expect(
        client.runs.wait(thread.thread_id, "rust_kb", { input: { inputDir: path.join(tmp, "secret"), outDir: path.join(outside, "kb") } }),
      ).rejects.toThrow(/outside the directories this Studio server may use/);
      expect(fs.readdirSync(outside)).toEqual([]);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});

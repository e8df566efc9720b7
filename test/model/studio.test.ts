/**
 * LangGraph Studio path: the dev server starts offline on loopback and a run of the exported graph
 * completes through @langchain/langgraph-sdk.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
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
  server = spawn(process.execPath, tsxEntryArgs("cli/studioServer.ts", "--port", String(port), "--no-reload"), {
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

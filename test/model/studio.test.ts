/**
 * `npm run studio` on the CLI's own runs, through @langchain/langgraph-sdk against the real server
 * (cli/studio.ts on 127.0.0.1, a free port) and a tiny real model: a CLI run is a thread with its
 * history and subgraph state; an interrupted CLI run resumed from Studio ends with the knowledge
 * base `--resume` makes; a run started from Studio is an ordinary run; and the request filter
 * refuses what a web page in the user's browser could send.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Client } from "@langchain/langgraph-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tsxEntryArgs } from "../../src/util/nodeEntry.ts";
import { REPO, summaryOf } from "../helpers/cli.ts";
import { runInProcess } from "../helpers/inProcessCli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
const FILES = ["rust-patterns/idioms/concat-format.md", "rust-patterns/idioms/temporary-mutability.txt", "rust-patterns/idioms/pass-var-to-closure.md"];
/** Options both the CLI and the Studio server run with, so their knowledge bases can be compared. */
const RUN_OPTIONS = ["--threads", "1", "--concurrency", "1", "--research", "input"];

let tmp: string;
const servers: Studio[] = [];
beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "kb-studio-")));
});
afterAll(async () => {
  for (const s of servers) await s.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function makeInput(name: string, files = FILES): string {
  const dir = path.join(tmp, name);
  for (const rel of files) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.copyFileSync(sharedCorpus("rust-research", rel), path.join(dir, rel));
  }
  return dir;
}

function graphArgs(input: string, out: string, db: string, extra: string[] = []): string[] {
  return ["--input", input, "--out", out, "--db", db, "--model", MODEL, "--no-llm-review", "--json", ...RUN_OPTIONS, ...extra];
}

function pages(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const sub of ["", "patterns", "categories"]) {
    const dir = path.join(out, sub);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) if (f.endsWith(".md") || f === "kb.json") m.set(path.join(sub, f), fs.readFileSync(path.join(dir, f), "utf8"));
  }
  return m;
}

interface Studio {
  port: number;
  client: Client;
  log: () => string;
  stop: () => Promise<void>;
}

/** Starts `npm run studio` on a free port and waits for the address it prints. */
async function startStudio(db: string): Promise<Studio> {
  const child: ChildProcess = spawn(
    process.execPath,
    tsxEntryArgs("cli/studio.ts", "--db", db, "--port", "0", "--root", tmp, "--model", MODEL, ...RUN_OPTIONS),
    { cwd: REPO, env: { ...process.env, RUST_KB_OFFLINE: "1", RUST_KB_BACKEND: "node-llama-cpp", NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`studio did not start:\n${log}`)), 90_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (process.env.STUDIO_DEBUG) process.stderr.write(d);
      const m = /Studio API: http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stderr?.on("data", onData);
    child.stdout?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`studio exited (${code}):\n${log}`)));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const studio: Studio = {
    port,
    client: new Client({ apiUrl: `http://127.0.0.1:${port}` }),
    log: () => log,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
  servers.push(studio);
  return studio;
}

/** Every event of a streamed run. */
async function drain(stream: AsyncIterable<{ event: string; data: unknown }>): Promise<{ event: string; data: unknown }[]> {
  const events: { event: string; data: unknown }[] = [];
  for await (const e of stream) events.push(e);
  return events;
}

async function listRuns(db: string): Promise<{ id: string; status: string }[]> {
  const r = await runInProcess("runs", ["list", "--json", "--db", db]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string; status: string }[]).map((x) => ({ id: x.id, status: x.status }));
}

describe("Studio on the CLI's runs", () => {
  let db: string;
  let studio: Studio;
  let cliRunId: string;

  beforeAll(async () => {
    db = path.join(tmp, "runs.sqlite");
    const cli = await runInProcess("graph", graphArgs(makeInput("notes", FILES.slice(0, 2)), path.join(tmp, "kb"), db, ["--keep-history"]));
    expect(cli.code, cli.stderr).toBe(0);
    cliRunId = summaryOf(cli).runId as string;
    studio = await startStudio(db);
  }, 300_000);

  it("lists a CLI run as a thread whose ID is the run ID, with its history and each file's subgraph state", async () => {
    const { client } = studio;
    expect(cliRunId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const threads = await client.threads.search({ limit: 100 });
    const thread = threads.find((t) => t.thread_id === cliRunId);
    expect(thread?.metadata).toMatchObject({ graph_id: "rust_kb", run_status: "done", out: path.join(tmp, "kb") });
    expect(thread?.status).toBe("idle");

    const history = await client.threads.getHistory<{ files: unknown[]; results: unknown[] }>(cliRunId, { limit: 100 });
    expect(history.length).toBeGreaterThan(2);
    expect(history[0]?.values.results).toHaveLength(2);
    expect(history.some((s) => s.values.files?.length === 2)).toBe(true);
    // The checkpoint before the files ran: its tasks are the per-file subgraphs, with their state.
    const fanOut = history.find((s) => s.next.includes("processFile"));
    expect(fanOut).toBeDefined();
    const withSubgraphs = await client.threads.getState(cliRunId, fanOut?.checkpoint ?? undefined, { subgraphs: true });
    const fileStates = withSubgraphs.tasks.map((t) => t.state as { values?: { relPath?: string; patterns?: unknown[] } } | null);
    expect(fileStates.map((s) => s?.values?.relPath).sort()).toEqual(FILES.slice(0, 2).sort());
    // A file's own step history (extractor, researcher, writer, validator, ...).
    const ns = (withSubgraphs.tasks[0]?.state as { checkpoint?: { checkpoint_ns?: string } } | null)?.checkpoint?.checkpoint_ns;
    expect(ns).toMatch(/^processFile:/);
    const fileHistory = await client.threads.getHistory<{ drafts: Record<string, { ref: string | null; draft?: { name?: string } }> }>(cliRunId, {
      checkpoint: { checkpoint_ns: ns },
      limit: 50,
    });
    expect(fileHistory.length).toBeGreaterThan(1);
    // Drafts (quarantined ones included) are stored by hash: their text is shown beside it.
    const drafts = fileHistory.flatMap((s) => Object.values(s.values.drafts ?? {})).filter((d) => d.ref !== null);
    expect(drafts.length).toBeGreaterThan(0);
    for (const d of drafts) expect(d.draft).toBeTypeOf("object");

    const drawn = JSON.stringify(await client.assistants.getGraph("rust_kb", { xray: true }));
    for (const node of ["discover", "processFile", "extractor", "validator"]) expect(drawn).toContain(node);
    const [assistant] = await client.assistants.search({ graphId: "rust_kb" });
    expect(assistant?.graph_id).toBe("rust_kb");
    expect((await client.assistants.getSchemas(assistant?.assistant_id ?? "")).input_schema).toMatchObject({ required: ["inputDir", "outDir"] });
  });

  it("refuses to edit a run's directories through its state, and to delete a thread that does not exist", async () => {
    const { client } = studio;
    await expect(client.threads.updateState(cliRunId, { values: { outDir: path.join(tmp, "elsewhere") } })).rejects.toThrow(/does not edit .{1,3}outDir/);
    await expect(client.threads.delete("01900000-0000-7000-8000-000000000000")).rejects.toThrow(/404|no thread/i);
  });

  it("starts a run in a thread it created: an ordinary run in `npm run runs -- list`; directories outside --root are refused", async () => {
    const { client } = studio;
    const thread = await client.threads.create();
    const events = await drain(
      client.runs.stream(thread.thread_id, "rust_kb", { input: { inputDir: makeInput("studio-notes", FILES.slice(2)), outDir: path.join(tmp, "studio-kb") } }),
    );
    expect(
      events.filter((e) => e.event === "error"),
      studio.log(),
    ).toEqual([]);
    const last = events.filter((e) => e.event === "values").at(-1)?.data as { results?: unknown[] };
    expect(last.results).toHaveLength(1);
    expect(fs.existsSync(path.join(tmp, "studio-kb", "index.md"))).toBe(true);
    expect(await listRuns(db)).toContainEqual({ id: thread.thread_id, status: "done" });
    // Studio-started runs keep their history (time travel).
    expect((await client.threads.getHistory(thread.thread_id, { limit: 100 })).length).toBeGreaterThan(2);

    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "kb-studio-outside-"));
    try {
      const other = await client.threads.create();
      const refused = await drain(
        client.runs.stream(other.thread_id, "rust_kb", { input: { inputDir: path.join(tmp, "studio-notes"), outDir: path.join(outside, "kb") } }),
      );
      expect(JSON.stringify(refused.filter((e) => e.event === "error"))).toMatch(/outside the directories this Studio server may use/);
      expect(fs.readdirSync(outside)).toEqual([]);
      // Someone's files are not a knowledge base (as on the command line).
      fs.mkdirSync(path.join(tmp, "home"));
      fs.writeFileSync(path.join(tmp, "home", "thesis.md"), "mine");
      const home = await drain(
        client.runs.stream(other.thread_id, "rust_kb", { input: { inputDir: path.join(tmp, "studio-notes"), outDir: path.join(tmp, "home") } }),
      );
      expect(JSON.stringify(home.filter((e) => e.event === "error"))).toMatch(/holds no knowledge base/);
      expect(fs.readdirSync(path.join(tmp, "home"))).toEqual(["thesis.md"]);
      expect((await listRuns(db)).map((r) => r.id)).not.toContain(other.thread_id);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it("forks a finished CLI run from an earlier checkpoint with edited state (time travel) and runs it from there", async () => {
    const { client } = studio;
    const history = await client.threads.getHistory<{ files: { relPath: string }[] }>(cliRunId, { limit: 100 });
    const fanOut = history.find((s) => s.next.includes("processFile"));
    const files = fanOut?.values.files ?? [];
    expect(files).toHaveLength(2);
    // Keep one file: as if discover had found only it.
    const fork = await client.threads.updateState(cliRunId, {
      values: { files: files.slice(0, 1) },
      checkpointId: fanOut?.checkpoint.checkpoint_id ?? undefined,
      asNode: "discover",
    });
    const events = await drain(
      client.runs.stream(cliRunId, "rust_kb", {
        input: null,
        checkpointId: (fork as unknown as { checkpoint: { checkpoint_id: string } }).checkpoint.checkpoint_id,
      }),
    );
    expect(
      events.filter((e) => e.event === "error"),
      studio.log(),
    ).toEqual([]);
    const state = await client.threads.getState<{ results: { relPath: string }[] }>(cliRunId);
    expect(state.values.results.map((r) => r.relPath)).toEqual([files[0]?.relPath]);
    expect(state.next).toEqual([]);
    expect(await listRuns(db)).toContainEqual({ id: cliRunId, status: "done" });
  });
  it("stops a Studio run on cancel (interrupted, its finished steps kept) and resumes it to the end", async () => {
    const { client } = studio;
    const thread = await client.threads.create();
    const stream = client.runs.stream(thread.thread_id, "rust_kb", {
      input: { inputDir: makeInput("cancel-notes"), outDir: path.join(tmp, "cancel-kb") },
      streamMode: ["updates"],
      streamSubgraphs: true,
    });
    let cancelled = false;
    for await (const e of stream) {
      if (!cancelled && e.event.startsWith("updates|processFile") && JSON.stringify(e.data).includes("extractor")) {
        cancelled = true;
        await client.runs.cancel(thread.thread_id, thread.thread_id);
      }
    }
    expect(cancelled).toBe(true);
    expect(await listRuns(db)).toContainEqual({ id: thread.thread_id, status: "interrupted" });
    expect((await client.threads.get(thread.thread_id)).status).toBe("interrupted");
    const resumed = await drain(client.runs.stream(thread.thread_id, "rust_kb", { input: null }));
    expect(
      resumed.filter((e) => e.event === "error"),
      studio.log(),
    ).toEqual([]);
    expect(await listRuns(db)).toContainEqual({ id: thread.thread_id, status: "done" });
    expect((await client.threads.getState<{ results: unknown[] }>(thread.thread_id)).values.results).toHaveLength(FILES.length);
  });
});

describe("an interrupted CLI run resumed from Studio", () => {
  it("completes with the knowledge base `--resume` makes from the same interrupted state", async () => {
    const input = makeInput("resume-notes");
    const out = path.join(tmp, "resume-kb");
    const db = path.join(tmp, "resume.sqlite");
    const failed = await runInProcess("graph", graphArgs(input, out, db), { env: { RUST_KB_TEST_FAULTS: "model:after=3" } });
    expect(failed.code).toBe(1);
    const runId = summaryOf(failed).runId as string;
    // The interrupted state, kept to resume it twice.
    const saved = path.join(tmp, "resume-saved");
    fs.mkdirSync(saved);
    const dbFiles = [db, `${db}-wal`, `${db}-shm`].filter((f) => fs.existsSync(f));
    for (const f of dbFiles) fs.copyFileSync(f, path.join(saved, path.basename(f)));
    fs.cpSync(out, path.join(saved, "kb"), { recursive: true });

    const cli = await runInProcess("graph", graphArgs(input, out, db, ["--resume"]));
    expect(cli.code, cli.stderr).toBe(0);
    expect(summaryOf(cli).runId).toBe(runId);
    const byCli = pages(out);
    expect(byCli.size).toBeGreaterThan(0);

    fs.rmSync(out, { recursive: true });
    for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
    for (const f of dbFiles) fs.copyFileSync(path.join(saved, path.basename(f)), f);
    fs.cpSync(path.join(saved, "kb"), out, { recursive: true });

    const studio = await startStudio(db);
    const before = await studio.client.threads.get(runId);
    expect(before.status).toBe("error");
    const events = await drain(studio.client.runs.stream(runId, "rust_kb", { input: null }));
    expect(
      events.filter((e) => e.event === "error"),
      studio.log(),
    ).toEqual([]);
    expect(await listRuns(db)).toContainEqual({ id: runId, status: "done" });
    expect(pages(out)).toEqual(byCli);
  });
});

/** A raw request, so Origin and Host can be what a hostile page's browser would send. */
function raw(
  port: number,
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

describe("the Studio server refuses what a web page could send", () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await startStudio(path.join(tmp, "security.sqlite"));
  }, 120_000);
  const pwnInput = () => ({ assistant_id: "rust_kb", input: { inputDir: path.join(tmp, "secret"), outDir: path.join(tmp, "pwn-kb") } });

  it("refuses a cross-origin text/plain POST to a thread's runs, and a text/plain or form body without an Origin, and writes nothing", async () => {
    fs.mkdirSync(path.join(tmp, "secret"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "secret", "notes.md"), "# Secret\n\n```rust\nfn main() {}\n```\n");
    const { port } = studio;
    const thread = await studio.client.threads.create();
    for (const route of [`/threads/${thread.thread_id}/runs/stream`, `/threads/${thread.thread_id}/runs/wait`, "/threads"]) {
      const r = await raw(
        port,
        "POST",
        route,
        { host: `127.0.0.1:${port}`, origin: "https://evil.example", "content-type": "text/plain;charset=UTF-8" },
        JSON.stringify(pwnInput()),
      );
      expect(r.status, route).toBe(403);
      expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    }
    const route = `/threads/${thread.thread_id}/runs/stream`;
    expect((await raw(port, "POST", route, { host: `127.0.0.1:${port}`, "content-type": "text/plain" }, JSON.stringify(pwnInput()))).status).toBe(415);
    expect((await raw(port, "POST", route, { host: `127.0.0.1:${port}`, "content-type": "application/x-www-form-urlencoded" }, "a=b")).status).toBe(415);
    // Stateless runs (no thread) are not offered: a run is a thread.
    expect(
      (await raw(port, "POST", "/runs/stream", { host: `127.0.0.1:${port}`, "content-type": "application/json" }, JSON.stringify(pwnInput()))).status,
    ).toBe(422);
    await new Promise((r) => setTimeout(r, 500));
    expect(fs.existsSync(path.join(tmp, "pwn-kb"))).toBe(false);
  });

  it("answers CORS only for the hosted Studio and localhost, and refuses a DNS-rebinding Host", async () => {
    const { port } = studio;
    const preflight = (origin: string) =>
      raw(port, "OPTIONS", "/threads/search", {
        host: `127.0.0.1:${port}`,
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      });
    expect((await preflight("https://evil.example")).headers["access-control-allow-origin"]).toBeUndefined();
    expect((await preflight("https://smith.langchain.com")).headers["access-control-allow-origin"]).toBe("https://smith.langchain.com");
    expect((await preflight("http://localhost:3000")).headers["access-control-allow-origin"]).toBe("http://localhost:3000");
    expect((await raw(port, "GET", "/ok", { host: `127.0.0.1:${port}`, origin: "https://evil.example" })).status).toBe(403);
    expect((await raw(port, "GET", "/info", { host: `evil.example:${port}` })).status).toBe(403);
    expect((await raw(port, "GET", "/ok", { host: `localhost:${port}` })).status).toBe(200);
  });

  it("refuses a WebSocket upgrade from a foreign origin (CORS does not apply to WebSockets)", async () => {
    const { port } = studio;
    const thread = await studio.client.threads.create();
    const refused = await raw(port, "GET", `/threads/${thread.thread_id}/stream/events`, {
      host: `127.0.0.1:${port}`,
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      origin: "https://evil.example",
    });
    expect(refused.status).toBe(403);
  });
});

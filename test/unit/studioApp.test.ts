/**
 * The Studio app in process, through @langchain/langgraph-sdk, with a scripted run in place of
 * openPipelineRun: threads are the run database's runs, the graph's assistant and drawing, runs.wait,
 * and what the app refuses (stateless runs, deleting a running run, a second run in a busy thread).
 */
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { serve } from "@hono/node-server";
import { v7 } from "@langchain/core/utils/uuid";
import { Annotation, StateGraph } from "@langchain/langgraph";
import { Client } from "@langchain/langgraph-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileState, PipelineState } from "../../nodes/state.ts";
import { ASSISTANT_ID } from "../../src/commands/studio/StudioThreads.ts";
import { buildStructureGraph, type StudioRunRequest, type StudioRunSession } from "../../src/commands/studio/servedGraph.ts";
import { createStudioApp } from "../../src/commands/studio/studioApp.ts";
import { studioSchemas } from "../../src/commands/studio/studioSchemas.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";

let tmp: string;
let db: RunDatabase;
let client: Client;
let apiUrl: string;
let close: () => void;
const opened: StudioRunRequest[] = [];
const finished: string[] = [];

function addRun(id: string, status: "done" | "running" | "failed", startedAt: string): void {
  db.createRun({
    id,
    input: path.join(tmp, "notes"),
    out: path.join(tmp, "kb"),
    model: "m",
    settings: "{}",
    startedAt,
    pid: status === "running" ? process.pid : null,
  });
  if (status !== "running") db.setRunStatus(id, status, { endedAt: startedAt });
}

beforeAll(async () => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "kb-studio-app-")));
  fs.mkdirSync(path.join(tmp, "notes"));
  db = RunDatabase.open(path.join(tmp, "runs.sqlite"));
  const Toy = Annotation.Root({ count: Annotation<number>() });
  const toy = new StateGraph(Toy)
    .addNode("step", (s) => ({ count: s.count + 1 }))
    .addEdge("__start__", "step")
    .addEdge("step", "__end__")
    .compile({ checkpointer: db.checkpointer() });
  const openRun = async (request: StudioRunRequest): Promise<StudioRunSession> => {
    opened.push(request);
    if (request.kind === "new") addRun(request.runId, "running", new Date().toISOString());
    return {
      runId: request.runId,
      graph: toy as unknown as StudioRunSession["graph"],
      config: { configurable: { thread_id: request.runId } },
      graphInput: { count: 41 },
      finish: async ({ status }) => {
        finished.push(`${request.runId}:${status}`);
        db.setRunStatus(request.runId, status === "done" ? "done" : status);
      },
    };
  };
  const { app } = createStudioApp({ db, roots: [tmp], origins: [], openRun });
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new Client({ apiUrl });
  close = () => server.close();
});
afterAll(() => {
  close();
  db.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("the Studio app", () => {
  it("serves one assistant, rust_kb, with the pipeline's drawing, schemas and per-file subgraph", async () => {
    const [assistant, ...others] = await client.assistants.search();
    expect(others).toEqual([]);
    expect(assistant).toMatchObject({ assistant_id: ASSISTANT_ID, graph_id: "rust_kb" });
    const drawn = JSON.stringify(await client.assistants.getGraph(ASSISTANT_ID, { xray: true }));
    for (const node of ["discover", "processFile:extractor", "processFile:validator"]) expect(drawn).toContain(node);
    expect((await client.assistants.getSchemas("rust_kb")).input_schema).toMatchObject({ required: ["inputDir", "outDir"] });
    expect(Object.keys(await client.assistants.getSubgraphs(ASSISTANT_ID))).toEqual(["processFile"]);
    await expect(client.assistants.get("other")).rejects.toThrow(/404/);
  });

  it("describes every key of the pipeline's and a file's state (the schemas are written out by hand)", () => {
    const keys = (schema: Record<string, unknown>) => Object.keys(schema.properties as object).sort();
    expect(keys(studioSchemas().pipeline.state_schema)).toEqual(Object.keys(PipelineState.spec).sort());
    expect(keys(studioSchemas().file.state_schema)).toEqual(Object.keys(FileState.spec).sort());
  });

  it("lists runs as threads (thread ID = run ID; old run IDs under a derived UUID), newest first, and filters them by metadata", async () => {
    const older = v7();
    const newer = v7();
    addRun(older, "done", "2026-01-01T00:00:00.000Z");
    addRun(newer, "failed", "2026-01-02T00:00:00.000Z");
    addRun("run-20260101-000000-abcdef", "done", "2026-01-03T00:00:00.000Z");
    const ids = (await client.threads.search({ limit: 100 })).map((t) => t.thread_id);
    expect(ids.indexOf(newer)).toBeLessThan(ids.indexOf(older));
    expect(ids).not.toContain("run-20260101-000000-abcdef");
    // A run made before run IDs were UUIDs is a thread too, under a UUID derived from its ID, with its checkpoints.
    const old = (await client.threads.search({ metadata: { run_id: "run-20260101-000000-abcdef" } }))[0];
    expect(old?.thread_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5/);
    await buildStructureGraph(db.checkpointer()).updateState(
      { configurable: { thread_id: "run-20260101-000000-abcdef" } },
      { inputDir: path.join(tmp, "notes"), outDir: path.join(tmp, "kb"), exclude: [path.join(tmp, "kb")] },
      "__start__",
    );
    const oldState = await client.threads.getState<{ outDir: string }>(old?.thread_id ?? "");
    expect(oldState.values.outDir).toBe(path.join(tmp, "kb"));
    expect((await client.threads.getHistory(old?.thread_id ?? "")).length).toBeGreaterThan(0);
    expect((await client.threads.get(old?.thread_id ?? "")).metadata).toMatchObject({ run_id: "run-20260101-000000-abcdef", run_status: "done" });
    await client.runs.wait(old?.thread_id ?? "", "rust_kb", { input: null });
    expect(opened.at(-1)).toEqual({ kind: "resume", runId: "run-20260101-000000-abcdef" });
    const failed = await client.threads.search({ metadata: { run_status: "failed" } });
    expect(failed.map((t) => t.thread_id)).toEqual([newer]);
    expect(failed[0]?.status).toBe("error");
    expect(await client.threads.count({ metadata: { run_status: "failed" } })).toBe(1);
    await expect(client.threads.get(v7())).rejects.toThrow(/404/);
  });

  it("runs in a new thread (runs.wait), and the thread is that run from then on", async () => {
    const thread = await client.threads.create();
    expect((await client.threads.search({ limit: 100 })).map((t) => t.thread_id)).toContain(thread.thread_id);
    const result = await client.runs.wait(thread.thread_id, "rust_kb", { input: { inputDir: "notes", outDir: "kb-new" } });
    expect(result).toEqual({ count: 42 });
    expect(opened.at(-1)).toEqual({ kind: "new", runId: thread.thread_id, inputDir: path.join(tmp, "notes"), outDir: path.join(tmp, "kb-new"), force: false });
    expect(finished).toContain(`${thread.thread_id}:done`);
    expect((await client.threads.get(thread.thread_id)).metadata).toMatchObject({ run_status: "done", out: path.join(tmp, "kb") });
    expect((await client.runs.list(thread.thread_id)).map((r) => [r.run_id, r.status])).toEqual([[thread.thread_id, "success"]]);
    // Stopped at a breakpoint: the run is interrupted (resumable), not done.
    const paused = await client.threads.create();
    await client.runs.wait(paused.thread_id, "rust_kb", { input: { inputDir: "notes", outDir: "kb-paused" }, interruptBefore: ["step"] });
    expect(finished).toContain(`${paused.thread_id}:interrupted`);
    expect((await client.runs.get(thread.thread_id, thread.thread_id)).status).toBe("success");
  });

  it("refuses new input for an existing run, deleting or re-running a running run, stateless runs and the event protocol's run.start", async () => {
    const running = v7();
    addRun(running, "running", new Date().toISOString());
    await expect(client.threads.delete(running)).rejects.toThrow(/409/);
    await expect(client.runs.wait(running, "rust_kb", { input: null })).rejects.toThrow(/running/);
    const done = v7();
    addRun(done, "done", new Date().toISOString());
    await expect(client.runs.wait(done, "rust_kb", { input: { inputDir: "notes", outDir: "kb" } })).rejects.toThrow(/takes no new input/);
    await client.threads.delete(done);
    expect(db.getRun(done)).toBeUndefined();
    // A checkpoint whose directories are not the run's (written past the API's edit check) is never run.
    const moved = v7();
    addRun(moved, "failed", new Date().toISOString());
    await buildStructureGraph(db.checkpointer()).updateState(
      { configurable: { thread_id: moved } },
      { inputDir: path.join(tmp, "notes"), outDir: path.join(tmp, "elsewhere"), exclude: [path.join(tmp, "elsewhere")] },
      "__start__",
    );
    const before = opened.length;
    await expect(client.runs.wait(moved, "rust_kb", { input: null })).rejects.toThrow(/directories differ/);
    expect(opened.length).toBe(before);
    // The embed server's experimental event protocol would start runs another way: not offered.
    const thread = await client.threads.create();
    const command = await fetch(`${apiUrl}/threads/${thread.thread_id}/commands`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: 1, method: "run.start", params: { assistant_id: "rust_kb", input: { inputDir: "notes", outDir: "kb-cmd" } } }),
    });
    expect(command.status).toBe(404);
    const stateless = await fetch(`${apiUrl}/runs/wait`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ assistant_id: "rust_kb" }),
    });
    expect(stateless.status).toBe(422);
    expect(fs.existsSync(path.join(tmp, "kb-cmd"))).toBe(false);
  });
});

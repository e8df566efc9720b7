/**
 * `npm run graph -- --endpoint URL --endpoint URL` against two scripted OpenAI-compatible servers on
 * loopback: nothing is loaded or downloaded locally, both servers serve calls, the API key named by
 * --api-key-env reaches the servers and nothing else (a canary key searched for in the output tree,
 * the database bytes, stdout and stderr), and a change of the model behind the URL re-processes the
 * files while an unchanged one keeps them.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, summaryOf } from "../helpers/cli.ts";
import { type ScriptedOpenAiServer, type ServerOptions, scriptedServer } from "../helpers/scriptedOpenAiServer.ts";

const CANARY = `sk-canary-${randomBytes(12).toString("hex")}`;
let tmp: string;
let input: string;
const servers: ScriptedOpenAiServer[] = [];
const serverOptions: ServerOptions = {
  models: [{ id: "scripted-qwen" }],
  // Schema-constrained calls get an object that fits no node schema (every draft quarantined or dropped);
  // text calls get a short answer. The test is about transport, keys and accounting, not content.
  reply: (body) => ({ text: body.response_format ? "{}" : "ok", delayMs: 2 }),
};

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  return out;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-endpoint-cli-"));
  input = path.join(tmp, "notes");
  fs.mkdirSync(input);
  fs.writeFileSync(path.join(input, "newtype.md"), "# Newtype\n\nWrap a type in a tuple struct to give it meaning.\n\n```rust\nstruct Meters(f64);\n```\n");
  fs.writeFileSync(
    path.join(input, "builder.md"),
    "# Builder\n\nUse a builder when a constructor takes many optional arguments.\n\n```rust\nlet c = Config::builder().port(8080).build();\n```\n",
  );
  for (let i = 0; i < 2; i++) servers.push(await scriptedServer(serverOptions));
});

afterAll(async () => {
  for (const s of servers) await s.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function graph(extra: string[] = []) {
  return runCli(
    "graph",
    [
      "--input",
      input,
      "--out",
      path.join(tmp, "kb"),
      "--db",
      path.join(tmp, "runs.sqlite"),
      ...servers.flatMap((s) => ["--endpoint", s.url]),
      "--api-key-env",
      "RUST_KB_TEST_CANARY_KEY",
      "--research",
      "input",
      "--no-llm-review",
      "--json",
      ...extra,
    ],
    // Offline, with an empty models folder: any attempt to resolve or download a local model would fail the run.
    { env: { RUST_KB_TEST_CANARY_KEY: CANARY, RUST_KB_OFFLINE: "1", RUST_KB_MODELS_DIR: path.join(tmp, "no-models"), RUST_KB_MODEL: "" } },
  );
}

describe("npm run graph --endpoint with scripted model servers", () => {
  let first: Awaited<ReturnType<typeof graph>>;
  beforeAll(async () => {
    first = await graph();
  }, 120_000);

  it("runs on the servers alone: done, both servers served calls, nothing loaded or downloaded locally", () => {
    expect(first.code, first.stderr).toBe(0);
    const s = summaryOf(first);
    expect(s).toMatchObject({ status: "done", files: { found: 2, pending: 0 } });
    expect(s.llm.calls).toBeGreaterThan(0);
    expect(s.llm.inputTokens).toBeGreaterThan(0);
    for (const srv of servers) expect(srv.chatCalls().length).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(tmp, "no-models"))).toBe(false);
    const loaded = first.events.find((e) => e.type === "model_loaded") as { model?: string } | undefined;
    expect(loaded?.model).toContain("model server");
    expect(fs.existsSync(path.join(tmp, "kb", "index.md"))).toBe(true);
  });

  it("sends the key from the named variable to the servers and writes it nowhere", () => {
    const requests = servers.flatMap((s) => s.requests);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((r) => r.headers.authorization === `Bearer ${CANARY}`)).toBe(true);
    expect(first.stdout).not.toContain(CANARY);
    expect(first.stderr).not.toContain(CANARY);
    const written = [...files(path.join(tmp, "kb")), ...files(tmp).filter((f) => f.includes("runs.sqlite") || f.includes("docs-index"))];
    expect(written.some((f) => f.endsWith("runs.sqlite"))).toBe(true);
    for (const f of written) expect(fs.readFileSync(f).includes(Buffer.from(CANARY)), f).toBe(false);
    // The variable's name is what a resumed run needs, and it may be recorded.
    const db = fs.readFileSync(path.join(tmp, "runs.sqlite"));
    expect(db.includes(Buffer.from(servers[0]?.url ?? "-"))).toBe(true);
  });

  it("keeps unchanged files on a re-run with the same model behind the URLs, and re-processes them when the model changes", async () => {
    const before = servers.reduce((a, s) => a + s.chatCalls().length, 0);
    const again = await graph();
    expect(again.code, again.stderr).toBe(0);
    expect(summaryOf(again)).toMatchObject({ status: "done", files: { unchanged: 2 }, llm: { calls: 0 } });
    expect(servers.reduce((a, s) => a + s.chatCalls().length, 0)).toBe(before);

    serverOptions.models = [{ id: "scripted-qwen", meta: { size: 999 } }];
    const changed = await graph();
    expect(changed.code, changed.stderr).toBe(0);
    expect(summaryOf(changed).llm.calls).toBeGreaterThan(0);
    expect(changed.stderr).toMatch(/model extractor=endpoint:scripted-qwen,.* -> extractor=endpoint:scripted-qwen \(size=999\),.*re-processing them/);
  }, 120_000);

  it("stops before any work with a clear message when the named key variable is not set", async () => {
    const r = await runCli(
      "graph",
      [
        "--input",
        input,
        "--out",
        path.join(tmp, "kb2"),
        "--db",
        path.join(tmp, "b.sqlite"),
        "--endpoint",
        servers[0]?.url ?? "",
        "--api-key-env",
        "RUST_KB_TEST_UNSET_KEY",
        "--json",
      ],
      {
        env: { RUST_KB_TEST_UNSET_KEY: "" },
      },
    );
    expect(r.code).toBe(2);
    expect(summaryOf(r).error).toMatchObject({ code: "CONFIG_INVALID", message: expect.stringContaining("RUST_KB_TEST_UNSET_KEY") });
  }, 60_000);
});

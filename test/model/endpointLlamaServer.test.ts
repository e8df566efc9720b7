/**
 * The model-server backend against the real engine: two llama.cpp llama-server processes (built from
 * the llama.cpp source node-llama-cpp ships: bash scripts/buildLlamaServer.sh), started by the test
 * as EXTERNAL servers on loopback with stories260K-chatml (llama-2-tiny's vocabulary cannot express
 * the chat route's JSON grammar), and the CLI run on a corpus slice through `--endpoint` twice:
 * the knowledge base, the summary, both endpoints serving calls, and a run during which one endpoint
 * is killed finishing on the other with no file lost.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBenchTool } from "../../bench/llamacpp/tools.ts";
import { runCli, startCli, summaryOf } from "../helpers/cli.ts";
import { type ExternalServer, startLlamaServer } from "../helpers/llamaServerFleet.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

const SERVER = findBenchTool("llama-server");
const MODEL = sharedModel("stories260K-chatml.gguf");
const SLICE = ["rust-patterns/idioms/concat-format.md", "rust-patterns/idioms/temporary-mutability.txt"];
const SKIP = SERVER === undefined ? " (SKIPPED: llama-server is not built; run bash scripts/buildLlamaServer.sh)" : "";
if (SKIP) console.warn(`endpointLlamaServer.test.ts${SKIP}`);

let tmp: string;
let input: string;
const servers: ExternalServer[] = [];

/**
 * Few agents and short generations: stories260K fills every string to its field's limit, so at the
 * default limits (900 tokens for the extractor and writer) a run takes minutes; --max-tokens keeps it short.
 */
function args(out: string, db: string, urls: string[], extra: string[] = []): string[] {
  return [
    "--input",
    input,
    "--out",
    out,
    "--db",
    db,
    ...urls.flatMap((u) => ["--endpoint", u]),
    "--agents",
    "extractor=2,researcher=2,writer=2,validator=2,synthesizer=1",
    "--max-tokens",
    "extractor=200,researcher=64,writer=200,validator=64",
    "--research",
    "input",
    "--no-llm-review",
    "--json",
    ...extra,
  ];
}

describe.skipIf(SERVER === undefined)(`npm run graph --endpoint on two external llama-servers${SKIP}`, () => {
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-llama-fleet-"));
    input = path.join(tmp, "notes");
    for (const rel of SLICE) {
      const dest = path.join(input, rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(sharedCorpus("rust-research", rel), dest);
    }
    for (let i = 0; i < 2; i++)
      servers.push(
        await startLlamaServer({
          bin: SERVER as string,
          model: MODEL,
          slots: 3,
          ctxPerSlot: 4096,
          threads: 1,
          // stories260K was trained at 2048 tokens, and llama-server caps a slot at that; the pipeline's
          // prompts run to ~3000 tokens in this 512-token vocabulary.
          extra: ["--override-kv", "llama.context_length=int:8192"],
        }),
      );
  });

  afterAll(async () => {
    for (const s of servers) await s.kill("SIGKILL");
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("builds the knowledge base from the slice with both servers serving calls, and a second run keeps every file", async () => {
    const out = path.join(tmp, "kb");
    const db = path.join(tmp, "runs.sqlite");
    const before = servers.map((s) => s.chatRequests());
    const first = await runCli(
      "graph",
      args(
        out,
        db,
        servers.map((s) => s.url),
      ),
      { env: { RUST_KB_OFFLINE: "1" } },
    );
    expect(first.code, first.stderr).toBe(0);
    const s = summaryOf(first);
    expect(s).toMatchObject({ status: "done", files: { found: SLICE.length, pending: 0 } });
    expect(s.files.processed + s.files.quarantined + s.files.skipped).toBe(SLICE.length);
    expect(s.llm.calls).toBeGreaterThan(0);
    expect(s.llm.tokens).toBeGreaterThan(0);
    expect(s.llm.inputTokens).toBeGreaterThan(0);
    for (const [i, srv] of servers.entries()) expect(srv.chatRequests(), `server ${i} served no call`).toBeGreaterThan(before[i] ?? 0);
    expect(fs.readFileSync(path.join(out, "index.md"), "utf8")).toMatch(/^# /m);
    expect(JSON.parse(fs.readFileSync(path.join(out, "kb.json"), "utf8"))).toBeTypeOf("object");
    const loaded = first.events.find((e) => e.type === "model_loaded") as { model?: string } | undefined;
    expect(loaded?.model).toContain(servers[0]?.url);

    // Same servers, same model: nothing to do.
    const again = await runCli(
      "graph",
      args(
        out,
        db,
        servers.map((s) => s.url),
      ),
      { env: { RUST_KB_OFFLINE: "1" } },
    );
    expect(again.code, again.stderr).toBe(0);
    expect(summaryOf(again)).toMatchObject({ status: "done", files: { unchanged: SLICE.length }, llm: { calls: 0 } });
  });

  it("finishes on the other server when one is killed mid-run, with no file lost", async () => {
    const out = path.join(tmp, "kb-kill");
    const db = path.join(tmp, "kill.sqlite");
    const victim = servers[1] as ExternalServer;
    const start = victim.chatRequests();
    const run = startCli(
      "graph",
      args(
        out,
        db,
        servers.map((s) => s.url),
        ["--force"],
      ),
      { env: { RUST_KB_OFFLINE: "1" } },
    );
    // Kill it once it has served a call of this run (so calls are in flight on both).
    const deadline = Date.now() + 120_000;
    while (victim.chatRequests() <= start && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(victim.chatRequests()).toBeGreaterThan(start);
    await victim.kill("SIGKILL");
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const s = summaryOf(result);
    expect(s).toMatchObject({ status: "done", files: { found: SLICE.length, pending: 0 } });
    expect(s.files.processed + s.files.quarantined + s.files.skipped).toBe(SLICE.length);
    expect(result.stderr).toContain(`model server ${victim.url} taken out`);
  });
});

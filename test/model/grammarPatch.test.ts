/**
 * bench/llamacpp/patches/grammar-candidates.diff in the built llama-server: a grammar rejection tests
 * the top candidates before masking, the mask has an exact ASCII prefilter, and the counters reach
 * the response's timings. At temperature 0 every combination must produce the same tokens as
 * llama.cpp's own path (grammar_candidates 0, LLAMA_GRAMMAR_NO_PREFILTER=1). Skipped where no
 * llama-server with the patch is built (bash scripts/buildLlamaServer.sh).
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findBenchTool } from "../../bench/llamacpp/tools.ts";
import { extractorSchema } from "../../nodes/schemas.ts";
import { zodToGrammarSchema } from "../../src/llm/jsonSchema.ts";
import { REPO } from "../helpers/cli.ts";

const serverBin = findBenchTool("llama-server");
const patched = (() => {
  if (!serverBin) return false;
  for (const f of [path.join(path.dirname(serverBin), "build-info.json"), path.join(path.dirname(serverBin), "..", "build-info.json")]) {
    try {
      if (fs.readFileSync(f, "utf8").includes("grammar-candidates@")) return true;
    } catch {
      // not here
    }
  }
  return false;
})();
// A 32,000-token vocabulary: large enough for the prefilter (it runs on masks over 1,024 tokens).
const MODEL = path.join(REPO, "..", "shared", "models", "llama-2-tiny-random-chatml.gguf");

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
});

async function startServer(env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(serverBin as string, ["-m", MODEL, "-np", "1", "-c", "1024", "-t", "1", "--host", "127.0.0.1", "--port", String(port)], {
    stdio: "ignore",
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`llama-server exited ${child.exitCode}`);
    const ok = await fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    stop: async () => {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const schema = zodToGrammarSchema(extractorSchema(["u1", "u2", "u3"], 2, 1));

async function complete(url: string, prompt: string, candidates: number) {
  const res = await fetch(`${url}/completion`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt, n_predict: 80, temperature: 0, cache_prompt: false, json_schema: schema, grammar_candidates: candidates }),
  });
  expect(res.ok).toBe(true);
  return (await res.json()) as {
    content: string;
    timings: { grammar_n_checked: number; grammar_n_rejected: number; grammar_n_cand_hit: number; grammar_n_full_mask: number };
  };
}

describe.skipIf(!patched || !fs.existsSync(MODEL))("llama-server grammar patch", () => {
  it("counts rejections, and candidates and prefilter leave greedy output unchanged", async () => {
    const prompts = ["Extract the patterns of u1 as JSON.", "Notes: u2 uses Arc<Mutex<T>>; u3 uses channels."];
    const outputs: Record<string, string[]> = {};
    for (const prefilter of ["off", "on"]) {
      const server = await startServer(prefilter === "off" ? { LLAMA_GRAMMAR_NO_PREFILTER: "1" } : {});
      try {
        for (const candidates of [0, 64]) {
          const key = `prefilter ${prefilter}, candidates ${candidates}`;
          outputs[key] = [];
          for (const p of prompts) {
            const r = await complete(server.url, p, candidates);
            expect(r.timings.grammar_n_checked).toBeGreaterThan(0);
            expect(r.timings.grammar_n_rejected).toBeGreaterThan(0);
            expect(r.timings.grammar_n_rejected).toBe(r.timings.grammar_n_cand_hit + r.timings.grammar_n_full_mask);
            if (candidates === 0) expect(r.timings.grammar_n_cand_hit).toBe(0);
            outputs[key]?.push(r.content);
          }
        }
      } finally {
        await server.stop();
      }
    }
    const reference = outputs["prefilter off, candidates 0"];
    expect(reference?.[0]).toMatch(/^\s*\{/);
    for (const [key, out] of Object.entries(outputs)) expect({ key, out }).toEqual({ key, out: reference });
  });
});

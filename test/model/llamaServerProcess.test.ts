import { spawn } from "node:child_process";
import path from "node:path";
import type { Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnv } from "../../src/config/env.ts";
import { applyOverrides, loadAgentsConfig } from "../../src/llm/agentsConfig.ts";
import { openPool, planPool } from "../../src/llm/ModelPool.ts";
import { sharedModel } from "../helpers/scriptedBackend.ts";

/**
 * The llama-server backend's process handling, chosen by configuration, with a stand-in server
 * (test/fixtures/bin/fake-llama-server.mjs) so it runs where llama.cpp's tools are not built. The
 * real server is exercised by syntheticGgufServerBackend.test.ts where they are.
 */
const REPO = path.resolve(import.meta.dirname, "../..");
const FAKE = path.join(REPO, "test/fixtures/bin/fake-llama-server.mjs");
const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return pred();
}

describe.skipIf(process.platform === "win32")("llama-server backend chosen by configuration", () => {
  let llama: Llama;
  beforeAll(async () => {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: 1, logLevel: LlamaLogLevel.error, progressLogs: false });
  });
  afterAll(async () => {
    await llama?.dispose();
  });

  it("--backend llama-server serves every role from one server with a slot per sequence, and dispose stops it", async () => {
    const config = applyOverrides(loadAgentsConfig(), {
      agents: "extractor=2,researcher=1,writer=1,validator=1,synthesizer=1",
      backend: "llama-server",
      memoryBudget: "8GB",
      contextSize: 512,
    });
    const plan = await planPool(config, { env: readEnv(), resolveSource: async () => MODEL, threads: 1, uvThreadpoolSize: 1 });
    expect(plan.models.map((m) => [m.backend, m.sequences])).toEqual([["llama-server", 6]]);
    const pool = await openPool(llama, plan, { llamaServerBin: FAKE });
    const backend = pool.backendFor("writer") as unknown as { serverPid(): number | undefined };
    const pid = backend.serverPid();
    expect(pid).toBeGreaterThan(0);
    const out = await Promise.all(
      (["extractor", "extractor", "writer"] as const).map((role) =>
        pool.backendFor(role).generate({ role, prompt: { system: "s", user: "u" }, maxTokens: 3, temperature: 0 }),
      ),
    );
    expect(out.map((o) => o.text).sort()).toEqual(["echo slot 0", "echo slot 1", "echo slot 2"]);
    expect(out.every((o) => o.outputTokens === 3 && o.stopReason === "maxTokens")).toBe(true);
    await pool.dispose();
    expect(await waitUntil(() => !alive(pid as number), 5000)).toBe(true);
  });

  it("says how to get llama-server when it is missing", async () => {
    const config = applyOverrides(loadAgentsConfig(), { backend: "llama-server", memoryBudget: "8GB", contextSize: 512 });
    const plan = await planPool(config, { env: readEnv(), resolveSource: async () => MODEL, threads: 1 });
    await expect(openPool(llama, plan, { llamaServerBin: path.join(REPO, "no-such-llama-server") })).rejects.toThrow(
      /no llama-server at .*no-such-llama-server/,
    );
    await expect(openPool(llama, plan, { llamaServerBin: path.join(REPO, "no-such-llama-server") })).rejects.toMatchObject({
      hint: expect.stringMatching(/bench\/llamacpp\/build\.sh/),
    });
  });

  it("the server does not outlive a process that is SIGKILLed (no exit handler runs)", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "test/fixtures/bin/holdServerBackend.ts"), MODEL, FAKE], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const serverPid = await new Promise<number>((resolve, reject) => {
      child.stdout.on("data", (d) => {
        stdout += d;
        const m = /"serverPid":(\d+)/.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
      child.on("exit", (code) => reject(new Error(`holder exited ${code}: ${stderr}`)));
    });
    expect(alive(serverPid)).toBe(true);
    child.kill("SIGKILL");
    expect(await waitUntil(() => !alive(serverPid), 5000)).toBe(true);
  }, 60_000);
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBenchTool } from "../../bench/llamacpp/tools.ts";
import { LlamaServerBackend } from "../../src/llm/LlamaServerBackend.ts";
import { isProcessAlive } from "../../src/util/processAlive.ts";
import { sharedModel } from "../helpers/scriptedBackend.ts";
import { waitGone } from "../helpers/waitGone.ts";

/**
 * The llama-server backend's defences, with the stand-in server (test/fixtures/bin/fake-llama-server.mjs,
 * which checks the API key and streams like llama-server): a random key per start that other
 * processes lack, passed in the environment (not on the command line) and never logged; none of our
 * secrets in the server's environment; streamed completions; a new port when the picked one is taken
 * before the server binds it; SIGKILL after the grace period for a server that ignores SIGTERM.
 */
const REPO = path.resolve(import.meta.dirname, "../..");
const FAKE = path.join(REPO, "test/fixtures/bin/fake-llama-server.mjs");
const STUBBORN = path.join(REPO, "test/fixtures/bin/fake-llama-server-stubborn.mjs");
const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
const CANARY = "rk-canary-server-5e1d";

const common = { modelPath: MODEL, sequences: 2, contextSize: 256, threads: 1, roleCaps: {} };

describe.skipIf(process.platform !== "linux")("llama-server backend: key, environment, streaming, ports, stop", () => {
  let llama: Llama;
  let tmp: string;
  const saved = process.env.TAVILY_API_KEY;
  beforeAll(async () => {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: 1, logLevel: LlamaLogLevel.error, progressLogs: false });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-server-sec-"));
    process.env.TAVILY_API_KEY = CANARY;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.TAVILY_API_KEY;
    else process.env.TAVILY_API_KEY = saved;
    await llama?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("serves only callers with its random key (kept out of the command line and the log), streams completions, and gets none of our secrets", async () => {
    const logs: string[] = [];
    const backend = await LlamaServerBackend.start(llama, { ...common, serverBin: FAKE, onLog: (l) => logs.push(l) });
    try {
      const pid = backend.serverPid() as number;
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      const key = environ.find((e) => e.startsWith("LLAMA_API_KEY="))?.slice("LLAMA_API_KEY=".length) ?? "";
      expect(key).toMatch(/^[0-9a-f]{48}$/);
      expect(environ.join("\n")).not.toContain(CANARY);
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.toContain(key);
      // Without the key (any other local process) the server refuses; /health stays public.
      const plain = await fetch(`${backend.url}/completion`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(plain.status).toBe(401);
      expect((await fetch(`${backend.url}/health`)).status).toBe(200);
      const out = await backend.generate({ role: "writer", prompt: { system: "s", user: "u" }, maxTokens: 3, temperature: 0 });
      expect(out).toMatchObject({ text: "echo slot 0", outputTokens: 3, inputTokens: 7, stopReason: "maxTokens" });
      expect(logs.join("")).not.toContain(key);
    } finally {
      await backend.dispose();
    }
  }, 60_000);

  it.skipIf(!findBenchTool("llama-server"))(
    "the real llama-server refuses callers without its key, gets none of our secrets and streams a completion (skipped where llama-server is not built)",
    async () => {
      const backend = await LlamaServerBackend.start(llama, { ...common, serverBin: findBenchTool("llama-server") });
      try {
        const pid = backend.serverPid() as number;
        const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
        expect(environ).not.toContain(CANARY);
        const key = /LLAMA_API_KEY=([0-9a-f]+)/.exec(environ)?.[1] ?? "";
        expect(key).toHaveLength(48);
        expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.toContain(key);
        const plain = await fetch(`${backend.url}/completion`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"prompt":"a"}' });
        expect(plain.status).toBe(401);
        const out = await backend.generate({ role: "writer", prompt: { system: "s", user: "u" }, maxTokens: 4, temperature: 0 });
        expect(out.outputTokens).toBeGreaterThan(0);
        expect(out.outputTokens).toBeLessThanOrEqual(4);
        expect(out.inputTokens).toBeGreaterThan(0);
      } finally {
        await backend.dispose();
      }
    },
    120_000,
  );

  it("picks another port when the first one is taken between the pick and the bind", async () => {
    // A server binary that finds its port taken on its first start, as llama-server reports it.
    const marker = path.join(tmp, "first-start-done");
    const bin = path.join(tmp, "llama-server");
    fs.writeFileSync(
      bin,
      `#!/bin/sh\nif [ ! -e '${marker}' ]; then : > '${marker}'; echo "couldn't bind HTTP server socket, hostname: 127.0.0.1" >&2; exit 1; fi\nexec '${process.execPath}' '${FAKE}' "$@"\n`,
      { mode: 0o755 },
    );
    const backend = await LlamaServerBackend.start(llama, { ...common, serverBin: bin });
    try {
      expect(fs.existsSync(marker)).toBe(true);
      const out = await backend.generate({ role: "writer", prompt: { system: "s", user: "u" }, maxTokens: 3, temperature: 0 });
      expect(out.text).toBe("echo slot 0");
    } finally {
      await backend.dispose();
    }
  }, 60_000);

  it("sends SIGKILL after the grace period to a server that ignores SIGTERM", async () => {
    const backend = await LlamaServerBackend.start(llama, { ...common, serverBin: STUBBORN, stopGraceMs: 500 });
    const pid = backend.serverPid() as number;
    expect(isProcessAlive(pid)).toBe(true);
    const started = Date.now();
    await backend.dispose();
    expect(await waitGone(pid, 5000)).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);
});

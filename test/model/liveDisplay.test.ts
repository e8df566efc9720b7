/**
 * The live display is right on every engine: one assertion helper, run against the in-process
 * engine (node-llama-cpp), the llama-server engine (a child llama-server) and the model-server
 * engine (OpenAiBackend on a real llama-server's /v1 over loopback). Each drives a real generation
 * of a tiny model through LlmService and a Reporter on a scripted clock and a fake terminal:
 * while the call runs (before the engine returns), the role shows one agent at work and the
 * engine has reported the call's start and first text; after it, no agent; the prompt tokens read
 * and the tokens generated are shown.
 */
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBenchTool } from "../../bench/llamacpp/tools.ts";
import { LlamaModelBackend, openLlama } from "../../src/llm/LlamaBackend.ts";
import { LlamaServerBackend } from "../../src/llm/LlamaServerBackend.ts";
import { LlmService } from "../../src/llm/LlmService.ts";
import type { Llama } from "../../src/llm/llamaCpp.ts";
import { OpenAiBackend } from "../../src/llm/OpenAiBackend.ts";
import type { BackendRequest, BackendResult, ModelBackend } from "../../src/llm/types.ts";
import { Reporter } from "../../src/progress/Reporter.ts";
import { type ExternalServer, startLlamaServer } from "../helpers/llamaServerFleet.ts";
import { sharedModel } from "../helpers/scriptedBackend.ts";

/** stories260K never stops early, so a call always generates up to maxTokens; its ChatML template serves both server routes. */
const MODEL = sharedModel("stories260K-chatml.gguf");
const SERVER = findBenchTool("llama-server");
const NO_SERVER = "llama-server is not built here (bash scripts/buildLlamaServer.sh builds it; CI does)";
if (!SERVER) console.warn(`liveDisplay.test.ts: the llama-server and model-server cases are SKIPPED: ${NO_SERVER}`);

/** A backend wrapped to know whether its generate call is still under way, and what it reported meanwhile. */
class Watched implements ModelBackend {
  inside = false;
  started = false;
  firstText = false;
  constructor(private readonly inner: ModelBackend) {}
  get modelId(): string {
    return this.inner.modelId;
  }
  get contextTokens(): number {
    return this.inner.contextTokens;
  }
  countTokens(text: string): number {
    return this.inner.countTokens(text);
  }
  async generate(request: BackendRequest): Promise<BackendResult> {
    this.inside = true;
    try {
      return await this.inner.generate({
        ...request,
        onStart: () => {
          this.started = true;
          request.onStart?.();
        },
        onFirstToken: () => {
          this.firstText = true;
          request.onFirstToken?.();
        },
      });
    } finally {
      this.inside = false;
    }
  }
}

/** The shared assertions: one writer call through LlmService, rendered by a live Reporter. */
async function assertLiveDisplay(engine: ModelBackend): Promise<void> {
  let now = 0;
  const err = Object.assign(new PassThrough(), { isTTY: true, columns: 200 });
  let screen = "";
  err.on("data", (d) => {
    screen += String(d);
  });
  const reporter = new Reporter({ err, out: new PassThrough(), json: false, now: () => now });
  const watched = new Watched(engine);
  const during: string[][] = [];
  const llm = new LlmService({
    backendFor: () => watched,
    events: (e) => {
      now += 250;
      reporter.handle(e);
      // What the display shows while the engine is still at work on the call.
      if (watched.inside && e.type === "llm_tokens") during.push(reporter.statusLines(199));
    },
  });
  const result = await llm.generateText({
    runId: "live",
    role: "writer",
    callKey: "a.md|writer|p1|r1",
    prompt: { system: "You write.", user: "Once upon a time" },
    maxTokens: 8,
  });
  expect(result.outputTokens).toBeGreaterThan(0);

  // The engine reported the call's start and its first text before it returned.
  expect(watched.started).toBe(true);
  expect(watched.firstText).toBe(true);
  // While the call ran, the display showed one writer at work (never every role at 0).
  expect(during.length).toBeGreaterThan(0);
  for (const lines of during) expect(lines).toContain("agents extractor 0  researcher 0  writer 1  validator 0  synthesizer 0");
  // Afterwards none, and the tokens read and generated are shown.
  expect(reporter.counts.active.writer).toBe(0);
  expect(reporter.counts.read).toBeGreaterThan(0);
  expect(reporter.counts.tokens).toBe(result.outputTokens);
  const after = reporter.statusLines(199);
  expect(after).toContain("agents extractor 0  researcher 0  writer 0  validator 0  synthesizer 0");
  const tokens = after.find((l) => l.startsWith("tokens "));
  expect(tokens).toMatch(/^tokens read [1-9]\d* tok\/s \([1-9][\d.k]* prompt tokens\), generated [1-9]\d* tok\/s \([1-9]\d*\)$/);
  // The same is on the terminal: the live block was drawn (escape codes) with these lines.
  reporter.say("done");
  expect(screen).toContain(tokens);
  reporter.stop();
}

let llama: Llama;
beforeAll(async () => {
  llama = await openLlama({ maxThreads: 1, gpu: false });
});
afterAll(async () => {
  await llama?.dispose();
});

describe("the live display on every engine", () => {
  it("in process (node-llama-cpp)", async () => {
    const backend = await LlamaModelBackend.load(llama, { modelPath: MODEL, sequences: 1, contextSize: 512, threads: 1, roleCaps: {} });
    try {
      await assertLiveDisplay(backend);
    } finally {
      await backend.dispose();
    }
  });

  it.skipIf(!SERVER)(`llama-server (a child process)${SERVER ? "" : ` — SKIPPED: ${NO_SERVER}`}`, async () => {
    const backend = await LlamaServerBackend.start(llama, { modelPath: MODEL, sequences: 1, contextSize: 512, threads: 1, roleCaps: {}, serverBin: SERVER });
    try {
      await assertLiveDisplay(backend);
    } finally {
      await backend.dispose();
    }
  });

  it.skipIf(!SERVER)(`model servers (OpenAI-compatible /v1 of a llama-server on loopback)${SERVER ? "" : ` — SKIPPED: ${NO_SERVER}`}`, async () => {
    let server: ExternalServer | undefined;
    let backend: OpenAiBackend | undefined;
    try {
      server = await startLlamaServer({ bin: SERVER as string, model: MODEL, slots: 1, ctxPerSlot: 512 });
      backend = await OpenAiBackend.connect({ endpoints: [server.url], contextSize: 512, roleCaps: {}, maxConcurrent: 1 });
      await assertLiveDisplay(backend);
    } finally {
      await backend?.dispose();
      await server?.kill();
    }
  });
});

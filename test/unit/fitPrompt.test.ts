import { describe, expect, it } from "vitest";
import { cutMiddle, fitPrompt } from "../../src/llm/fitPrompt.ts";
import { LlmService } from "../../src/llm/LlmService.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { ScriptedBackend } from "../helpers/scriptedBackend.ts";

const count = (t: string) => Math.ceil(t.length / 4);
const bigUser = (blocks: number) =>
  [
    "File: notes.md",
    ...Array.from({ length: blocks }, (_, i) => `[C${i + 1}] code\n${`let value_${i} = compute(${i});\n`.repeat(20)}`),
    "Step: write entries. Rules: cite only IDs.",
  ].join("\n");

describe("fitPrompt", () => {
  it("returns a prompt that fits as it is", () => {
    const prompt = { system: "sys", user: "short" };
    expect(fitPrompt(prompt, 100, { contextTokens: 4096, countTokens: count })).toEqual({ prompt, maxTokens: 100 });
  });

  it("lowers only the answer limit when the prompt fits and the answer still gets a fair share", () => {
    const prompt = { system: "sys", user: "u".repeat(8000) };
    const r = fitPrompt(prompt, 3000, { contextTokens: 4096, countTokens: count });
    expect(r.prompt).toBe(prompt);
    expect(r.shortened).toBeUndefined();
    expect(r.maxTokens).toBe(4096 - 48 - Math.ceil(4096 * 0.02) - 1 - 2000);
  });

  it("shortens the middle of an over-long user text, keeping its head and its step, so prompt plus answer fit", () => {
    const prompt = { system: "You write knowledge-base entries.", user: bigUser(200) };
    const r = fitPrompt(prompt, 900, { contextTokens: 4096, countTokens: count });
    expect(count(r.prompt.system) + count(r.prompt.user) + r.maxTokens).toBeLessThanOrEqual(4096);
    expect(r.maxTokens).toBe(900);
    expect(r.prompt.user.startsWith("File: notes.md\n[C1] code")).toBe(true);
    expect(r.prompt.user.endsWith("Step: write entries. Rules: cite only IDs.")).toBe(true);
    expect(r.prompt.user).toContain("[… part of this text was left out here to fit the model's context …]");
    expect(r.shortened?.from).toBeGreaterThan(4096);
  });

  it("holds an answer limit larger than the context to half of it", () => {
    const r = fitPrompt({ system: "s", user: "u".repeat(10_000) }, 5000, { contextTokens: 1024, countTokens: count });
    expect(r.maxTokens).toBeLessThanOrEqual(512);
    expect(count(r.prompt.system) + count(r.prompt.user) + r.maxTokens).toBeLessThanOrEqual(1024);
  });

  it("cuts a text with no line ends too", () => {
    const cut = cutMiddle("x".repeat(100_000), 300, count);
    expect(count(cut)).toBeLessThanOrEqual(300);
    expect(cut.length).toBeGreaterThan(1000);
  });
});

describe("every role's call is budgeted to the context", () => {
  it.each([
    "extractor",
    "researcher",
    "writer",
    "validator",
    "synthesizer",
  ] as const)("%s: the backend gets a prompt that fits, and a warning says so", async (role) => {
    const backend = new ScriptedBackend(() => "ok", { contextTokens: 4096 });
    const events: PipelineEvent[] = [];
    const llm = new LlmService({ backendFor: () => backend, events: (e) => events.push(e) });
    await llm.generateText({ runId: "r", role, callKey: `notes.md|${role}`, prompt: { system: "sys", user: bigUser(300) }, maxTokens: 900 });
    const sent = backend.requests[0];
    if (!sent) throw new Error("no request");
    expect(count(sent.prompt.system) + count(sent.prompt.user) + sent.maxTokens).toBeLessThanOrEqual(4096);
    expect(events.find((e) => e.type === "message")).toMatchObject({
      level: "warn",
      text: expect.stringMatching(
        new RegExp(`^notes\\.md\\|${role}: the ${role} prompt was shortened from \\d+ to \\d+ tokens to fit the model's context of 4096$`),
      ),
    });
  });
});

describe("fitPrompt with a backend as its budget", () => {
  it("calls the backend's countTokens on the backend (a class method that reads `this` works when the prompt must be shortened)", () => {
    class Counting {
      readonly contextTokens = 512;
      private readonly charsPerToken = 4;
      countTokens(text: string): number {
        return Math.ceil(text.length / this.charsPerToken);
      }
    }
    const fitted = fitPrompt({ system: "sys", user: bigUser(20) }, 200, new Counting());
    expect(fitted.shortened).toBeDefined();
    expect(fitted.prompt.user).toContain("Step: write entries.");
  });
});

/**
 * Generates tokens through node-llama-cpp in one of several ways, for wall-clock timing and for
 * `valgrind --tool=callgrind` (see docs/PROFILE.md). One sequence unless --sequences.
 *
 *   node --import tsx bench/profile/nodeGenerate.ts MODEL --mode evaluate|completion|chat|chat-norepeat|backend
 *        [--tokens 32] [--threads 1] [--sequences 1] [--temperature 0]
 *
 * Modes: evaluate = LlamaContextSequence.evaluate() iterator (node-llama-cpp's lowest public level);
 * completion = LlamaCompletion; chat = LlamaChat.generateResponse with its defaults;
 * chat-norepeat = the same with repeatPenalty: false; backend = our LlamaModelBackend.generate.
 */

import { getLlama, LlamaChat, LlamaCompletion, type LlamaContextSequence, LlamaLogLevel } from "node-llama-cpp";
import { LlamaModelBackend } from "../../src/llm/LlamaBackend.ts";

const argv = process.argv.slice(2);
const model = argv[0];
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? (argv[i + 1] ?? dflt) : dflt;
};
if (!model) throw new Error("usage: nodeGenerate.ts MODEL [--mode ...]");
const mode = opt("mode", "evaluate");
const tokens = Number(opt("tokens", "32"));
const threads = Number(opt("threads", "1"));
const sequences = Number(opt("sequences", "1"));
const temperature = Number(opt("temperature", "0"));
const prompt = "Summarize the ownership rules of Rust in three short sentences for a new team member.";

const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: threads, logLevel: LlamaLogLevel.error, progressLogs: false });

/** Time of the first and the latest generated token (all sequences): the rate between them leaves out the prompt. */
let firstTokenAt = 0;
let lastTokenAt = 0;
let tokenEvents = 0;
let firstChunk = 0;
function onToken(tokens?: readonly unknown[]): void {
  const now = performance.now();
  const n = tokens?.length ?? 1;
  if (firstTokenAt === 0) {
    firstTokenAt = now;
    firstChunk = n;
  }
  lastTokenAt = now;
  tokenEvents += n;
}

async function one(seq: LlamaContextSequence, i: number): Promise<number> {
  const m = seq.model;
  if (mode === "evaluate") {
    let n = 0;
    for await (const _ of seq.evaluate(m.tokenize(prompt), { temperature, seed: i + 1 })) {
      onToken();
      if (++n >= tokens) break;
    }
    return n;
  }
  const before = seq.tokenMeter.getState();
  if (mode === "completion") {
    await new LlamaCompletion({ contextSequence: seq }).generateCompletion(prompt, { maxTokens: tokens, temperature, seed: i + 1, onToken });
  } else {
    const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false });
    await chat.generateResponse(
      [
        { type: "system", text: "You are a benchmark." },
        { type: "user", text: prompt },
        { type: "model", response: [] },
      ],
      { maxTokens: tokens, temperature, seed: i + 1, onToken, ...(mode === "chat-norepeat" ? { repeatPenalty: false as const } : {}) },
    );
    chat.dispose({ disposeSequence: false });
  }
  return seq.tokenMeter.diff(before).usedOutputTokens;
}

const t0 = performance.now();
let generated = 0;
if (mode === "backend") {
  const backend = await LlamaModelBackend.load(llama, { modelPath: model, sequences, contextSize: tokens + 256, threads, roleCaps: {} });
  const t1 = performance.now();
  const rs = await Promise.all(
    Array.from({ length: sequences }, (_, i) =>
      backend.generate({ role: "extractor", prompt: { system: "You are a benchmark.", user: prompt }, maxTokens: tokens, temperature, seed: i + 1 }),
    ),
  );
  generated = rs.reduce((s, r) => s + r.outputTokens, 0);
  process.stdout.write(`${mode}: ${generated} tokens in ${(performance.now() - t1).toFixed(0)} ms (incl. prompt)\n`);
  await backend.dispose();
} else {
  const m = await llama.loadModel({ modelPath: model });
  const ctx = await m.createContext({ contextSize: tokens + 256, sequences, threads });
  const t1 = performance.now();
  const ru0 = process.resourceUsage();
  const counts = await Promise.all(Array.from({ length: sequences }, (_, i) => one(ctx.getSequence(), i)));
  generated = counts.reduce((a, b) => a + b, 0);
  process.stdout.write(`${mode}: ${generated} tokens in ${(performance.now() - t1).toFixed(0)} ms (incl. prompt)\n`);
  const ru1 = process.resourceUsage();
  process.stdout.write(
    `${mode}: during generation: ${ru1.minorPageFault - ru0.minorPageFault} minor page faults, ${ru1.voluntaryContextSwitches - ru0.voluntaryContextSwitches} voluntary + ${ru1.involuntaryContextSwitches - ru0.involuntaryContextSwitches} involuntary context switches, ${((ru1.userCPUTime - ru0.userCPUTime) / 1000).toFixed(0)} ms user + ${((ru1.systemCPUTime - ru0.systemCPUTime) / 1000).toFixed(0)} ms system CPU\n`,
  );
  if (tokenEvents > firstChunk)
    process.stdout.write(
      `${mode}: generation ${(((tokenEvents - firstChunk) / (lastTokenAt - firstTokenAt)) * 1000).toFixed(2)} tok/s after the first token (threads ${threads}, sequences ${sequences})\n`,
    );
  await ctx.dispose();
  await m.dispose();
}
process.stdout.write(`total ${(performance.now() - t0).toFixed(0)} ms\n`);
await llama.dispose();

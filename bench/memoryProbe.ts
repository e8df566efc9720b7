/**
 * Memory of N agents on one model, measured in a fresh process so nothing an earlier benchmark
 * loaded and freed is counted (or hides this load's buffers in reused heap):
 *
 *   node --require ./cli/threadpool.cjs --import tsx bench/memoryProbe.ts MODEL N CONTEXT THREADS
 *
 * Prints one JSON line: RSS after Node, tsx and llama.cpp's addon are up (before the model), RSS and
 * peak RSS (VmHWM) after loading the model with one context of N sequences and running one short
 * call on every sequence at once (so the compute buffers for an N-token batch are in use).
 */
import fs from "node:fs";
import { LlamaModelBackend, openLlama } from "../src/llm/LlamaBackend.ts";

function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

const [modelPath, nArg, ctxArg, threadsArg] = process.argv.slice(2);
if (!modelPath || !nArg || !ctxArg || !threadsArg) {
  process.stderr.write("usage: memoryProbe.ts MODEL N CONTEXT THREADS\n");
  process.exit(2);
}
const n = Number(nArg);
const llama = await openLlama({ maxThreads: Number(threadsArg), gpu: false });
const runtimeRss = process.memoryUsage().rss;
const backend = await LlamaModelBackend.load(llama, {
  modelPath,
  sequences: n,
  contextSize: Number(ctxArg),
  threads: Number(threadsArg),
  roleCaps: {},
});
await Promise.all(
  Array.from({ length: n }, (_, i) =>
    backend.generate({ role: "writer", prompt: { system: "You are terse.", user: `Say hello to agent ${i}.` }, maxTokens: 2, temperature: 0 }),
  ),
);
const rss = process.memoryUsage().rss;
process.stdout.write(`${JSON.stringify({ n, batchSize: backend.context.batchSize, runtimeRss, rss, peakRss: peakRssBytes() })}\n`);
await backend.dispose();
await llama.dispose();

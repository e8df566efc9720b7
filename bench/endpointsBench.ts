/**
 * `npm run bench -- --endpoints`: the model-server backend (src/llm/OpenAiBackend.ts) against two
 * external llama.cpp llama-servers on this machine (one thread each, a synthetic-shape model), in one
 * benchmark run:
 *
 *  1. generation throughput of each endpoint alone, then of both together through one backend:
 *     the goal is both >= 0.9 x (A alone + B alone);
 *  2. client overhead per call, median: (a) against a server in another process that answers at
 *     once (bench/instantOpenAiServer.mjs), the whole call as the client sees it; (b) against
 *     llama-server, the client's time minus the server's own prompt + generation time (`timings`);
 *     the goal is < 5 ms;
 *  3. one endpoint SIGKILLed mid-run: every call finishes (on the other), no finished call is
 *     repeated (generations the servers finished = calls).
 *
 *   npm run bench -- --endpoints [--shape smollm2-135m] [--slots 4] [--calls 32] [--tokens 64]
 *                    [--overhead-calls 200] [--out .bench/results]
 *
 * Needs llama-server (bash scripts/buildLlamaServer.sh). Prints a markdown table and writes the
 * figures as JSON to --out.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureSyntheticModel } from "../src/gguf/ensureSyntheticModel.ts";
import { isSyntheticShapeName } from "../src/gguf/writeSyntheticGguf.ts";
import { type CallStats, OpenAiBackend } from "../src/llm/OpenAiBackend.ts";
import { type ExternalServer, startLlamaServer } from "../test/helpers/llamaServerFleet.ts";
import { benchToolSearch, findBenchTool } from "./llamacpp/tools.ts";
import { machineInfo } from "./machine.ts";
import { summarize } from "./stats.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface EndpointsBenchOptions {
  shape: string;
  slots: number;
  calls: number;
  tokens: number;
  overheadCalls: number;
  out: string;
}

export function parseEndpointsArgs(argv: string[]): EndpointsBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      shape: { type: "string", default: "smollm2-135m" },
      slots: { type: "string", default: "4" },
      calls: { type: "string", default: "32" },
      tokens: { type: "string", default: "64" },
      "overhead-calls": { type: "string", default: "200" },
      out: { type: "string", default: ".bench/results" },
    },
  });
  return {
    shape: values.shape as string,
    slots: Number(values.slots),
    calls: Number(values.calls),
    tokens: Number(values.tokens),
    overheadCalls: Number(values["overhead-calls"]),
    out: values.out as string,
  };
}

const PROMPT = {
  system: "You are a Rust expert. Answer in plain prose.",
  user: "Explain the newtype pattern in Rust: when to use it, when not to, and its pitfalls. ".repeat(3),
};

interface Workload {
  tokens: number;
  ms: number;
  tokPerSec: number;
  stats: CallStats[];
}

async function connect(urls: string[], slots: number, onCall: (s: CallStats) => void): Promise<OpenAiBackend> {
  // Plain-text calls: "prompted" skips the start-up JSON-schema probe (a synthetic model's borrowed
  // vocabulary may not express the chat route's grammar), so every generation a server logs is a call.
  return await OpenAiBackend.connect({
    endpoints: urls,
    contextSize: 2048,
    roleCaps: {},
    maxConcurrent: slots * urls.length,
    onCall,
    structuredOutput: "prompted",
  });
}

/** `calls` generations of `tokens` tokens, as many in flight as the endpoints have slots. */
async function workload(urls: string[], o: EndpointsBenchOptions, calls: number): Promise<Workload> {
  const stats: CallStats[] = [];
  const backend = await connect(urls, o.slots, (s) => stats.push(s));
  try {
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        backend.generate({ role: "writer", prompt: { ...PROMPT, user: `${i}. ${PROMPT.user}` }, maxTokens: o.tokens, temperature: 0 }),
      ),
    );
    const ms = performance.now() - t0;
    const tokens = results.reduce((a, r) => a + r.outputTokens, 0);
    return { tokens, ms, tokPerSec: (tokens / ms) * 1000, stats };
  } finally {
    await backend.dispose();
  }
}

/** Client wall time per call (ms) against an instant server, and this process's CPU time per call (ms). */
const WARMUP_CALLS = 200;

async function instantOverhead(n: number): Promise<{ wallMs: number[]; cpuMsPerCall: number }> {
  const child = spawn(process.execPath, [path.join(repo, "bench", "instantOpenAiServer.mjs"), "16"], { stdio: ["pipe", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve) => child.stdout.once("data", (d: Buffer) => resolve(d.toString().trim())));
  const stats: CallStats[] = [];
  const backend = await OpenAiBackend.connect({ endpoints: [url], contextSize: 2048, roleCaps: {}, maxConcurrent: 1, slots: 1, onCall: (s) => stats.push(s) });
  try {
    // Sequential: one call at a time, so each figure is the client path alone. The first 200 warm up
    // the JIT (with 20, CPU per call measured ~3x higher).
    for (let i = 0; i < WARMUP_CALLS; i++) await backend.generate({ role: "writer", prompt: PROMPT, maxTokens: 16, temperature: 0 });
    // CPU time is what the client itself spends; unlike wall time it does not grow when the machine is busy.
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await backend.generate({ role: "writer", prompt: PROMPT, maxTokens: 16, temperature: 0 });
    const cpu = process.cpuUsage(cpu0);
    return { wallMs: stats.slice(WARMUP_CALLS).map((s) => s.clientMs), cpuMsPerCall: (cpu.user + cpu.system) / 1000 / n };
  } finally {
    await backend.dispose();
    child.stdin.end();
  }
}

async function killCheck(
  servers: ExternalServer[],
  o: EndpointsBenchOptions,
): Promise<{ calls: number; finished: number; serverGenerations: number; probes: number; ok: boolean }> {
  const before = servers.map((s) => s.chatRequests());
  const stats: CallStats[] = [];
  const messages: string[] = [];
  const backend = await OpenAiBackend.connect({
    endpoints: servers.map((s) => s.url),
    contextSize: 2048,
    roleCaps: {},
    maxConcurrent: o.slots * servers.length,
    onCall: (s) => stats.push(s),
    onMessage: (_l, t) => messages.push(t),
    structuredOutput: "prompted",
  });
  const calls = o.calls;
  try {
    const all = Promise.all(
      Array.from({ length: calls }, (_, i) =>
        backend.generate({ role: "writer", prompt: { ...PROMPT, user: `${i}. ${PROMPT.user}` }, maxTokens: o.tokens, temperature: 0 }),
      ),
    );
    while (stats.length < Math.ceil(calls / 3)) await new Promise((r) => setTimeout(r, 20));
    await servers[1]?.kill("SIGKILL");
    const results = await all;
    // A server logs a generation's timings as it finishes; give the last lines time to arrive.
    const generations = () => servers.reduce((a, s, i) => a + s.chatRequests() - (before[i] ?? 0), 0);
    for (let waited = 0; generations() < calls && waited < 5000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    const serverGenerations = generations();
    // No start-up probe in prompted mode: every generation a server finished is one of the calls.
    const probes = 0;
    return {
      calls,
      finished: results.length,
      serverGenerations,
      probes,
      ok: results.length === calls && serverGenerations - probes === calls && stats.length === calls,
    };
  } finally {
    await backend.dispose();
  }
}

export async function runEndpointsBench(o: EndpointsBenchOptions): Promise<void> {
  const bin = findBenchTool("llama-server");
  if (!bin) throw new Error("llama-server not found: build it with bash scripts/buildLlamaServer.sh");
  if (!isSyntheticShapeName(o.shape)) throw new Error(`unknown --shape ${o.shape}`);
  const model = await ensureSyntheticModel({ toolSearch: benchToolSearch(), shape: o.shape, quant: "Q8_0", onProgress: (l) => process.stderr.write(`${l}\n`) });
  const start = () => startLlamaServer({ bin, model, slots: o.slots, ctxPerSlot: 2048, threads: 1, extra: ["--no-webui"] });
  let servers: ExternalServer[] = [await start(), await start()];
  try {
    const [a, b] = servers as [ExternalServer, ExternalServer];
    // Warm-up (page cache, first-call allocations), then each alone, then both.
    await workload([a.url, b.url], o, o.slots * 2);
    const aloneA = await workload([a.url], o, o.calls);
    const aloneB = await workload([b.url], o, o.calls);
    const both = await workload([a.url, b.url], o, o.calls * 2);
    const ratio = both.tokPerSec / (aloneA.tokPerSec + aloneB.tokPerSec);
    const serverSide = [...aloneA.stats, ...aloneB.stats, ...both.stats].flatMap((s) => (s.serverMs === undefined ? [] : [s.clientMs - s.serverMs]));
    const instant = await instantOverhead(o.overheadCalls);
    // The kill check gets fresh servers (the first two were measured with the same commands).
    for (const s of servers) await s.kill();
    servers = [await start(), await start()];
    const kill = await killCheck(servers, o);
    const r = {
      machine: machineInfo(),
      shape: o.shape,
      slotsPerEndpoint: o.slots,
      threadsPerEndpoint: 1,
      callsPerEndpoint: o.calls,
      tokensPerCall: o.tokens,
      aloneA: { tokPerSec: aloneA.tokPerSec, tokens: aloneA.tokens, ms: aloneA.ms },
      aloneB: { tokPerSec: aloneB.tokPerSec, tokens: aloneB.tokens, ms: aloneB.ms },
      both: { tokPerSec: both.tokPerSec, tokens: both.tokens, ms: both.ms, perEndpointCalls: countBy(both.stats.map((s) => s.endpoint)) },
      ratio,
      overheadVsServerTimingsMs: summarize(serverSide),
      overheadInstantServerMs: summarize(instant.wallMs),
      clientCpuMsPerCall: instant.cpuMsPerCall,
      kill,
    };
    const md = [
      `Model servers: two llama-server endpoints (${o.shape} shape, synthetic Q8_0, ${o.slots} slots, 1 thread each), ${o.calls} calls of ${o.tokens} tokens per endpoint`,
      "",
      "| measure | value | goal |",
      "|---|---|---|",
      `| A alone | ${r.aloneA.tokPerSec.toFixed(1)} tok/s | |`,
      `| B alone | ${r.aloneB.tokPerSec.toFixed(1)} tok/s | |`,
      `| A + B through one backend | ${r.both.tokPerSec.toFixed(1)} tok/s (calls ${JSON.stringify(r.both.perEndpointCalls)}) | |`,
      `| ratio to A alone + B alone | ${ratio.toFixed(3)} | >= 0.9 |`,
      `| client overhead per call, instant server (median; min-max) | ${r.overheadInstantServerMs.median.toFixed(2)} ms; ${r.overheadInstantServerMs.min.toFixed(2)}-${r.overheadInstantServerMs.max.toFixed(2)} ms | < 5 ms |`,
      `| client CPU time per call, instant server | ${r.clientCpuMsPerCall.toFixed(2)} ms | < 5 ms |`,
      `| client time minus server timings (median; includes the server's HTTP handling) | ${r.overheadVsServerTimingsMs.median.toFixed(2)} ms | < 5 ms |`,
      `| B killed mid-run: calls finished / asked; server generations - probes | ${kill.finished}/${kill.calls}; ${kill.serverGenerations - kill.probes} | all; = calls |`,
    ].join("\n");
    process.stdout.write(`${md}\n`);
    fs.mkdirSync(o.out, { recursive: true });
    const file = path.join(o.out, `endpoints-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    fs.writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
    process.stdout.write(`\n${file}\n`);
  } finally {
    for (const s of servers) await s.kill("SIGKILL");
  }
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

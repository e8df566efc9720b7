/**
 * `npm run bench` — the users' four benchmark tables, measured on this machine:
 *  1. single agent: prompt processing and generation tokens/s;
 *  2. N agents sharing one loaded model (N = 1, 2, 4, 8, 16, 30): aggregate and per-agent tok/s, memory;
 *  3. the naive alternative: N separate model copies (as many as the memory budget allows);
 *  4. the pipeline on a fixed corpus slice: files/min, tok/s, share of wall time outside model calls;
 * plus a raw node-llama-cpp baseline at each N (same generation, no pipeline code), so the engine's
 * overhead is a ratio measured in the same run.
 *
 *   npm run bench -- [--synthetic qwen2.5-0.5b] [--model PATH] [--quant Q8_0|Q4_K_M] [--threads N]
 *                    [--ns 1,2,4,8,16,30] [--copies 1,2,4,8] [--tokens 64] [--repeats 3]
 *                    [--pipeline-files 3] [--skip pipeline,copies,raw] [--out docs/bench]
 *   npm run bench -- --vs-llama-cpp [...]   (llama.cpp's own tools on the same file: bench/vsLlamaCpp.ts)
 *   npm run bench -- --vs-llama-cpp --grammar [...]   (free vs grammar, rejection counts: bench/grammarBench.ts)
 *   npm run bench -- --job --replay [...]   (calls and tokens per file of the pipeline itself: bench/job/jobCli.ts)
 *   npm run bench -- --endpoints [...]      (two external llama-servers through the model-server backend: bench/endpointsBench.ts)
 *
 * Synthetic models (random weights in a real model's exact shape and quantization) are labelled as
 * synthetic everywhere. Results: a markdown report and an SVG chart in --out, and a JSON result per
 * point in .bench/results/ (read by `npm run models -- plan`).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureSyntheticModel, type SyntheticModelQuant } from "../src/gguf/ensureSyntheticModel.ts";
import { isSyntheticShapeName, SYNTHETIC_SHAPES } from "../src/gguf/writeSyntheticGguf.ts";
import { openLlama } from "../src/llm/LlamaBackend.ts";
import { formatBytes, kvBytesPerSequence, readModelMemoryProfile } from "../src/llm/memoryPlan.ts";
import { machineThreads } from "../src/llm/threads.ts";
import { lineChartSvg } from "./chart.ts";
import { benchToolSearch } from "./llamacpp/tools.ts";
import { machineInfo } from "./machine.ts";
import { benchPipeline, type PipelineBenchResult } from "./pipelineBench.ts";
import { formatSummary, type Summary } from "./stats.ts";
import { copiesThroughput, engineThroughput, probeMemory, promptProcessing, rawThroughput, type ThroughputPoint } from "./suites.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);

if (argv.includes("--job")) {
  const { runJobBench } = await import("./job/jobCli.ts");
  await runJobBench(argv.filter((a) => a !== "--job"));
  process.exit(process.exitCode ?? 0);
}

if (argv.includes("--endpoints")) {
  const { parseEndpointsArgs, runEndpointsBench } = await import("./endpointsBench.ts");
  await runEndpointsBench(parseEndpointsArgs(argv.filter((a) => a !== "--endpoints")));
  process.exit(0);
}

if (argv.includes("--vs-llama-cpp") && argv.includes("--grammar")) {
  const { parseGrammarBenchArgs, runGrammarBench } = await import("./grammarBench.ts");
  process.stdout.write(`${await runGrammarBench(parseGrammarBenchArgs(argv.filter((a) => a !== "--vs-llama-cpp")))}\n`);
  process.exit(0);
}

if (argv.includes("--vs-llama-cpp")) {
  const { parseVsLlamaCppArgs, runVsLlamaCpp } = await import("./vsLlamaCpp.ts");
  await runVsLlamaCpp(parseVsLlamaCppArgs(argv.filter((a) => a !== "--vs-llama-cpp")));
  process.exit(0);
}

const { values } = parseArgs({
  args: argv,
  options: {
    synthetic: { type: "string" },
    model: { type: "string" },
    quant: { type: "string", default: "Q8_0" },
    threads: { type: "string" },
    ns: { type: "string", default: "1,2,4,8,16,30" },
    copies: { type: "string", default: "1,2,4,8" },
    tokens: { type: "string", default: "64" },
    repeats: { type: "string", default: "3" },
    "pipeline-files": { type: "string", default: "3" },
    "context-size": { type: "string", default: "4096" },
    skip: { type: "string", default: "" },
    out: { type: "string", default: "docs/bench" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(
    `${fs
      .readFileSync(fileURLToPath(import.meta.url), "utf8")
      .split("*/")[0]
      ?.replace(/^\/\*\*?/, "")}\n`,
  );
  process.exit(0);
}

const threads = values.threads ? Number(values.threads) : machineThreads();
const ns = values.ns
  .split(",")
  .map(Number)
  .filter((n) => n > 0);
const copyNs = values.copies
  .split(",")
  .map(Number)
  .filter((n) => n > 0);
const skip = new Set(values.skip.split(",").filter(Boolean));
const opts = { threads, tokens: Number(values.tokens), repeats: Number(values.repeats), temperature: 0, contextSize: 512 };
const log = (s: string) => process.stderr.write(`${s}\n`);

let modelPath: string;
let label: string;
let shapeName: string;
const quant = values.quant as SyntheticModelQuant;
if (values.model) {
  modelPath = path.resolve(values.model);
  shapeName = path.basename(modelPath, ".gguf");
  label = `${path.basename(modelPath)} (real weights)`;
} else {
  const shape = values.synthetic ?? "qwen2.5-0.5b";
  if (!isSyntheticShapeName(shape)) throw new Error(`--synthetic takes one of ${Object.keys(SYNTHETIC_SHAPES).join(", ")}`);
  modelPath = await ensureSyntheticModel({ toolSearch: benchToolSearch(), shape, quant, cacheDir: path.join(repo, ".bench/models"), threads, onProgress: log });
  shapeName = shape;
  label = `SYNTHETIC ${shape} ${quant} (random weights in the real model's exact shape)`;
}
const modelBytes = fs.statSync(modelPath).size;
const llama = await openLlama({ maxThreads: threads, gpu: "auto" });
const machine = machineInfo(llama.gpu === false ? "none (CPU)" : String(llama.gpu));
log(`bench: ${label}, ${formatBytes(modelBytes)}, ${threads} threads, ${machine.cpu}, load ${machine.load}`);

// 1. Single agent.
log("single agent: prompt processing…");
const pp = await promptProcessing(llama, modelPath, 512, opts);
// 2. N agents sharing one model, through the engine and raw.
const engine: ThroughputPoint[] = [];
const raw: ThroughputPoint[] = [];
for (const n of ns) {
  log(`shared model, ${n} agents: engine…`);
  engine.push(await engineThroughput(llama, modelPath, n, opts));
  if (!skip.has("raw")) {
    log(`shared model, ${n} agents: raw node-llama-cpp…`);
    raw.push(await rawThroughput(llama, modelPath, n, opts));
  }
}
// Memory at the pipeline's context size.
const profile = await readModelMemoryProfile(modelPath, { contextSize: Number(values["context-size"]), sequences: Math.max(...ns) });
const kv = kvBytesPerSequence(profile, Number(values["context-size"]));
const memory: { n: number; rss: number; runtimeRss: number; formula: number }[] = [];
for (const n of [1, Math.max(...ns)]) {
  log(`memory: ${n} sequences x ${values["context-size"]} tokens (fresh process)…`);
  const probe = probeMemory(modelPath, n, Number(values["context-size"]), threads);
  memory.push({ n, rss: probe.peakRss, runtimeRss: probe.runtimeRss, formula: modelBytes + n * kv });
}
// 3. Naive copies, as many as the budget allows.
const copies: ThroughputPoint[] = [];
const budget = os.freemem() * 0.8;
const perCopy = modelBytes + kv + profile.overheadBytes;
const maxCopies = Math.max(1, Math.floor(budget / perCopy));
if (!skip.has("copies")) {
  for (const k of copyNs.filter((k) => k <= maxCopies)) {
    log(`naive copies: ${k}…`);
    copies.push(await copiesThroughput(llama, modelPath, k, opts));
  }
}
await llama.dispose();
// 4. The pipeline.
let pipeline: PipelineBenchResult | undefined;
if (!skip.has("pipeline")) {
  const corpus = path.resolve(repo, "../shared/corpus/rust-research/rust-patterns/idioms");
  const files = fs.existsSync(corpus)
    ? fs
        .readdirSync(corpus)
        .filter((f) => /\.(md|txt)$/.test(f))
        .sort()
        .slice(0, Number(values["pipeline-files"]))
        .map((f) => path.join(corpus, f))
    : [];
  if (files.length > 0) {
    log(`pipeline: ${files.length} corpus files…`);
    pipeline = await benchPipeline({ model: modelPath, files, threads });
  } else log("pipeline: ../shared/corpus not found, skipped");
}

// ---- report -------------------------------------------------------------------------------
const f = (s: Summary) => formatSummary(s, 1);
const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
const lines: string[] = [];
const date = new Date().toISOString();
lines.push(
  `## ${label}`,
  "",
  `Measured ${date.slice(0, 16).replace("T", " ")} UTC with \`npm run bench -- ${argv.join(" ")}\``,
  "",
  `- machine: ${machine.cpu}, ${machine.cores} cores, ${machine.ramGiB} GiB RAM, GPU: ${machine.gpu}, ${machine.os}, Node ${machine.node}; load average at start ${machine.load}`,
  `- model: \`${path.basename(modelPath)}\`, ${formatBytes(modelBytes)}; KV cache ${formatBytes(kv)} per sequence at ${values["context-size"]} tokens`,
  `- threads ${threads}; libuv thread pool ${process.env.RUST_KB_THREADPOOL ?? `${process.env.UV_THREADPOOL_SIZE ?? "4 (libuv default)"} (started without cli/threadpool.cjs)`}; ${opts.tokens} generated tokens per agent per call; greedy decoding; each figure is the median of ${opts.repeats} runs with (min-max); generation rate = (tokens of ${opts.tokens}-token calls - tokens of 1-token calls) / wall difference, so prompt processing is excluded`,
  "",
  "### Single agent",
  "",
  "| prompt processing (512 tokens) | generation, 1 agent |",
  "|---|---|",
  `| ${f(pp)} tok/s | ${engine[0] ? f(engine[0].aggregate) : "—"} tok/s |`,
  "",
  "### Agents sharing one loaded model (one context, N sequences)",
  "",
  "| N agents | aggregate tok/s (engine) | per agent | raw node-llama-cpp aggregate | engine / raw | peak RSS |",
  "|---|---|---|---|---|---|",
  ...engine.map((e, i) => {
    const r = raw[i];
    const ratio = r && r.aggregate.median > 0 ? `${((e.aggregate.median / r.aggregate.median) * 100).toFixed(0)}%` : "—";
    return `| ${e.n} | ${f(e.aggregate)} | ${f(e.perAgent)} | ${r ? f(r.aggregate) : "—"} | ${ratio} | ${mib(e.peakRssBytes)} |`;
  }),
  "",
  "### Memory",
  "",
  `| sequences x ${values["context-size"]} tokens | peak RSS | weights + N x KV | overhead = peak RSS - (weights + N x KV) | of which Node.js + tsx + llama.cpp addon before loading | of which model buffers beyond weights and KV |`,
  "|---|---|---|---|---|---|",
  ...memory.map(
    (m) => `| ${m.n} | ${mib(m.rss)} | ${mib(m.formula)} | ${mib(m.rss - m.formula)} | ${mib(m.runtimeRss)} | ${mib(m.rss - m.formula - m.runtimeRss)} |`,
  ),
  "",
  `(Each row is a fresh process (bench/memoryProbe.ts) that loads the model with one context of N sequences and runs one short call on every sequence at once; peak RSS is the kernel's high-water mark. "Weights" is the whole file, mapped. llama.cpp writes the KV cache when it creates the context, so it is resident from the start.)`,
  "",
  "### Naive alternative: N separate model copies",
  "",
  `The memory budget (80% of ${formatBytes(os.freemem())} free) allows ${maxCopies} copies of ${formatBytes(perCopy)} each.`,
  "",
  "| copies | aggregate tok/s | per copy | peak RSS |",
  "|---|---|---|---|",
  ...copies.map((c) => `| ${c.n} | ${f(c.aggregate)} | ${f(c.perAgent)} | ${mib(c.peakRssBytes)} |`),
  "",
);
if (pipeline) {
  lines.push(
    "### The pipeline",
    "",
    "| files | wall | files/min | LLM calls | generated tok/s | wall time outside model calls |",
    "|---|---|---|---|---|---|",
    `| ${pipeline.files} | ${(pipeline.wallMs / 1000).toFixed(1)} s | ${pipeline.filesPerMinute.toFixed(2)} | ${pipeline.llmCalls} | ${pipeline.tokensPerSecond.toFixed(1)} | ${(pipeline.outsideModelShare * 100).toFixed(1)}% |`,
    "",
  );
}
const report = `${lines.join("\n")}\n`;
fs.mkdirSync(values.out, { recursive: true });
const base = `agents-${shapeName}-${quant}`;
fs.writeFileSync(path.join(values.out, `${base}.md`), report);
fs.writeFileSync(
  path.join(values.out, `${base}.svg`),
  lineChartSvg(`${shapeName} ${quant}${values.model ? "" : " (synthetic)"}: aggregate generation tok/s`, "agents / copies", "tokens/s", [
    {
      label: "shared model (engine)",
      color: "#1f77b4",
      points: engine.map((e) => ({ x: e.n, y: e.aggregate.median, lo: e.aggregate.min, hi: e.aggregate.max })),
    },
    { label: "shared model (raw)", color: "#2ca02c", points: raw.map((e) => ({ x: e.n, y: e.aggregate.median, lo: e.aggregate.min, hi: e.aggregate.max })) },
    { label: "separate copies", color: "#d62728", points: copies.map((e) => ({ x: e.n, y: e.aggregate.median, lo: e.aggregate.min, hi: e.aggregate.max })) },
  ]),
);
const resultsDir = path.join(repo, ".bench/results");
fs.mkdirSync(resultsDir, { recursive: true });
fs.writeFileSync(
  path.join(resultsDir, `${base}-t${threads}.json`),
  `${JSON.stringify(
    engine.map((e) => ({
      modelShape: shapeName,
      quant,
      threads,
      n: e.n,
      aggregateTokPerSec: e.aggregate.median,
      perAgentTokPerSec: e.perAgent.median,
      synthetic: !values.model,
      contextSize: opts.contextSize,
      machine: `${machine.cores} cores, ${machine.ramGiB} GiB, ${machine.cpu}`,
      gpu: machine.gpu,
      date,
      // What this bench measures: agents through LlamaModelBackend, in process (models plan matches on it).
      engine: "node-llama-cpp",
    })),
    null,
    2,
  )}\n`,
);
process.stdout.write(report);
log(`wrote ${path.join(values.out, `${base}.md`)} and .svg`);

/**
 * `npm run bench -- --job --replay` — the job benchmark's replay mode on the fixed slice of issue 17
 * (four rust-patterns idioms): calls, prompt tokens evaluated vs reused from the KV cache,
 * generated tokens and source tokens, per file and per role, for three variants: every answer valid
 * on the first try; a fixed share of drafts failing validation once (the repair loop's price); and
 * three patterns per file (whether calls per file grow with patterns).
 *
 *   npm run bench -- --job --replay [--json] [--tokenizer PATH.gguf] [--fail-share 0.25]
 *                    [--patterns-per-file 3] [--sequences N] [--concurrency N] [--no-kv-reuse]
 *                    [--out docs/bench] [--name job-replay]
 *
 * `--engine` runs the same slice through the pipeline on a loaded model for time (bench/job/engineJob.ts):
 *
 *   npm run bench -- --job --engine [--json] [--synthetic qwen2.5-0.5b] [--quant Q4_K_M|Q8_0]
 *                    [--model PATH | --trained] [--threads N] [--sequences N] [--concurrency N] [--rustc]
 *                    [--backend auto|node-llama-cpp|llama-server] [--no-grammar]
 *                    [--corpus DIR] [--first N | --files a.md,b.json]
 *
 * `--trained` is the project's own trained test model (test/fixtures/models/rust-kb-tiny.gguf: it
 * answers in shape, so the success path is what is timed); `--backend auto` (the default) is the
 * engine a run would choose (llama-server where built, else in process); `--no-grammar` sends the
 * requests without their JSON schema (first-try validity of free generation); `--first N` takes the
 * first N corpus files by path instead of the fixed 4-file slice (a batch needs >= 30 files to fill);
 * `--corpus DIR` reads the files from DIR instead of ../shared/corpus/rust-research (all of its files
 * unless --first or --files says otherwise; e.g. `--corpus examples/notes`). Every engine run also
 * records its progress events (.bench/results/NAME.events.jsonl) and reports how right the live
 * display's ETA was; a recording can be replayed through the estimator again:
 *
 *   npm run bench -- --job --eta-replay .bench/results/NAME.events.jsonl [--json]
 *
 * Tokens are counted with a real tokenizer loaded vocabulary-only through node-llama-cpp (default:
 * ../shared/models/llama-2-tiny-random-chatml.gguf, the Llama-2 32k SentencePiece vocabulary with
 * ChatML), through the model's chat template, so prompt counts include the template. Markdown in
 * --out, JSON in .bench/results/; with --json the last stdout line is one object.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureSyntheticModel, type SyntheticModelQuant } from "../../src/gguf/ensureSyntheticModel.ts";
import { isSyntheticShapeName, SYNTHETIC_SHAPES } from "../../src/gguf/writeSyntheticGguf.ts";
import { loadAgentsConfig } from "../../src/llm/agentsConfig.ts";
import { chooseBackend, parseBackendChoice } from "../../src/llm/chooseBackend.ts";
import { loadPromptTokenizer, openLlama } from "../../src/llm/LlamaBackend.ts";
import { ROLES, type Role } from "../../src/llm/roles.ts";
import { machineThreads } from "../../src/llm/threads.ts";
import { benchToolSearch, findBenchTool } from "../llamacpp/tools.ts";
import { engineMarkdown, runEngine } from "./engineJob.ts";
import { etaAccuracy, etaAccuracySummary, etaAccuracyText, readEventRecording, writeEventRecording } from "./etaAccuracy.ts";
import { DEFAULT_SLICE, type ReplayOptions, type ReplayResult, replayMarkdown, runReplay } from "./replayJob.ts";
import { timelineSvg } from "./timelineSvg.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Replays a run's recorded events through the display's ETA estimator: how right it would have been. */
function etaReplay(file: string, json: boolean): void {
  const { events, endMs } = readEventRecording(file);
  const r = etaAccuracy(events, endMs);
  if (json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const lines = [
    `${path.basename(file)}: ${events.length} events, the run ended at ${(endMs / 1000).toFixed(1)} s`,
    `ETA ${etaAccuracyText(r)}`,
    "",
    "  elapsed      ETA  really left   error",
    ...r.series
      .filter((_, i) => i % Math.max(1, Math.round(r.series.length / 40)) === 0)
      .map((t) => {
        const err = t.etaMs === null ? "" : `${(((t.etaMs - t.leftMs) / Math.max(1, t.leftMs)) * 100).toFixed(0)}%`;
        const sec = (ms: number | null) => (ms === null ? "--" : `${(ms / 1000).toFixed(0)} s`);
        return `${sec(t.ms).padStart(9)} ${sec(t.etaMs).padStart(8)} ${sec(t.leftMs).padStart(12)} ${err.padStart(7)}`;
      }),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** The corpus's research files by relative path, sorted (what "the first 30 by path" means). */
function corpusFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((p) => p.split(path.sep).join("/"))
    .filter((p) => /\.(md|markdown|txt|json)$/.test(p))
    .sort();
}

export async function runJobBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      replay: { type: "boolean", default: false },
      engine: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      tokenizer: { type: "string" },
      "fail-share": { type: "string", default: "0.25" },
      "patterns-per-file": { type: "string", default: "3" },
      sequences: { type: "string" },
      concurrency: { type: "string" },
      "context-size": { type: "string", default: "4096" },
      "no-kv-reuse": { type: "boolean", default: false },
      rustc: { type: "boolean", default: false },
      out: { type: "string", default: "docs/bench" },
      name: { type: "string" },
      synthetic: { type: "string", default: "qwen2.5-0.5b" },
      quant: { type: "string", default: "Q4_K_M" },
      model: { type: "string" },
      threads: { type: "string" },
      trained: { type: "boolean", default: false },
      backend: { type: "string", default: "auto" },
      "no-grammar": { type: "boolean", default: false },
      first: { type: "string" },
      files: { type: "string" },
      corpus: { type: "string" },
      "eta-replay": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values["eta-replay"] && !values.help) return etaReplay(values["eta-replay"], values.json);
  if (values.engine && !values.help) return runEngineMode(values);
  if (values.help || !values.replay) {
    process.stdout.write(
      `${fs
        .readFileSync(fileURLToPath(import.meta.url), "utf8")
        .split("*/")[0]
        ?.replace(/^\/\*\*?/, "")}\n`,
    );
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const corpusDir = path.resolve(repo, "../shared/corpus/rust-research");
  const labelsPath = path.resolve(repo, "../shared/corpus/rust-research.labels.json");
  const tokenizerPath = path.resolve(values.tokenizer ?? path.join(repo, "../shared/models/llama-2-tiny-random-chatml.gguf"));
  for (const p of [corpusDir, labelsPath, tokenizerPath])
    if (!fs.existsSync(p)) throw new Error(`job bench: ${p} not found (the replay needs ../shared beside the repository)`);
  values.name ??= "job-replay";
  const agents = loadAgentsConfig();
  const caps = Object.fromEntries(ROLES.map((r) => [r, agents.roles[r].agents])) as Record<Role, number>;
  const total = ROLES.reduce((a, r) => a + caps[r], 0);
  const sequences = values.sequences ? Number(values.sequences) : total;
  const concurrency = values.concurrency ? Number(values.concurrency) : total;

  const llama = await openLlama({ maxThreads: 1, gpu: false });
  const tokenizer = await loadPromptTokenizer(llama, tokenizerPath);
  const base: ReplayOptions = {
    corpusDir,
    labelsPath,
    files: DEFAULT_SLICE,
    tokenizer,
    sequences,
    roleCaps: Object.fromEntries(ROLES.map((r) => [r, Math.min(caps[r], sequences)])),
    concurrency,
    contextTokens: Number(values["context-size"]),
    failShare: 0,
    patternsPerFile: 0,
    kvReuse: !values["no-kv-reuse"],
    rustc: values.rustc,
  };
  const variants: { key: string; title: string; options: ReplayOptions }[] = [
    { key: "valid", title: "Every answer valid on the first try", options: base },
    {
      key: "failures",
      title: `A share of ${values["fail-share"]} of drafts fails validation once`,
      options: { ...base, failShare: Number(values["fail-share"]) },
    },
    {
      key: "patterns",
      title: `${values["patterns-per-file"]} patterns per file`,
      options: { ...base, patternsPerFile: Number(values["patterns-per-file"]) },
    },
  ];
  const results: Record<string, ReplayResult> = {};
  try {
    for (const v of variants) {
      log(`job replay: ${v.title}…`);
      results[v.key] = await runReplay(v.options);
    }
  } finally {
    await tokenizer.dispose();
    await llama.dispose();
  }
  const valid = results.valid as ReplayResult;
  const date = new Date().toISOString();
  const md = [
    `## Job benchmark, replay mode (${values.name ?? "job-replay"})`,
    "",
    `Measured ${date.slice(0, 16).replace("T", " ")} UTC with \`npm run bench -- --job ${argv.join(" ")}\`. Counts are deterministic (a scripted model answers from a fixed recipe; tokens from a real tokenizer and chat template); wall time is not a figure of merit here.`,
    "",
    ...variants.map((v) => replayMarkdown(v.title, results[v.key] as ReplayResult)),
  ].join("\n");
  fs.mkdirSync(values.out, { recursive: true });
  fs.writeFileSync(path.join(values.out, `${values.name ?? "job-replay"}.md`), `${md}\n`);
  const resultsDir = path.join(repo, ".bench/results");
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, `${values.name ?? "job-replay"}.json`), `${JSON.stringify({ date, argv, results }, null, 2)}\n`);
  log(`wrote ${path.join(values.out, `${values.name ?? "job-replay"}.md`)} and ${path.join(resultsDir, `${values.name ?? "job-replay"}.json`)}`);
  if (values.json) {
    const slim = (r: ReplayResult) => ({
      calls: r.calls,
      promptTokens: r.promptTokens,
      reusedPromptTokens: r.reusedPromptTokens,
      generatedTokens: r.generatedTokens,
      evaluatedPerSourceToken: r.evaluatedPerSourceToken,
      callsPerFile: r.callsPerFile,
    });
    process.stdout.write(
      `${JSON.stringify({
        mode: "replay",
        files: valid.files,
        calls: valid.calls,
        promptTokens: valid.promptTokens,
        reusedPromptTokens: valid.reusedPromptTokens,
        evaluatedPromptTokens: valid.evaluatedPromptTokens,
        generatedTokens: valid.generatedTokens,
        sourceTokens: valid.sourceTokens,
        wallMs: Math.round(valid.wallMs),
        evaluatedPerSourceToken: valid.evaluatedPerSourceToken,
        callsPerFile: valid.callsPerFile,
        synthesizeCalls: valid.synthesize.calls,
        tokenizer: valid.tokenizer,
        failures: slim(results.failures as ReplayResult),
        patternsPerFile: slim(results.patterns as ReplayResult),
      })}\n`,
    );
  } else process.stdout.write(`${md}\n`);
}

async function runEngineMode(values: {
  json: boolean;
  synthetic: string;
  quant: string;
  model?: string;
  threads?: string;
  sequences?: string;
  concurrency?: string;
  "context-size": string;
  rustc: boolean;
  out: string;
  name?: string;
  trained: boolean;
  backend: string;
  "no-grammar": boolean;
  first?: string;
  files?: string;
  corpus?: string;
}): Promise<void> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const threads = values.threads ? Number(values.threads) : machineThreads();
  let modelPath: string;
  let label: string;
  if (values.trained) values.model = path.join(repo, "test/fixtures/models/rust-kb-tiny.gguf");
  if (values.model) {
    modelPath = path.resolve(values.model);
    label = path.basename(modelPath, ".gguf");
    if (values.trained) label = "trained-rust-kb-tiny";
  } else {
    if (!isSyntheticShapeName(values.synthetic)) throw new Error(`--synthetic takes one of ${Object.keys(SYNTHETIC_SHAPES).join(", ")}`);
    modelPath = await ensureSyntheticModel({
      toolSearch: benchToolSearch(),
      shape: values.synthetic,
      quant: values.quant as SyntheticModelQuant,
      cacheDir: path.join(repo, ".bench/models"),
      threads,
      onProgress: log,
    });
    label = `synthetic-${values.synthetic}-${values.quant}`;
  }
  const agents = loadAgentsConfig();
  const caps = Object.fromEntries(ROLES.map((r) => [r, agents.roles[r].agents])) as Record<Role, number>;
  const total = ROLES.reduce((a, r) => a + caps[r], 0);
  const sequences = values.sequences ? Number(values.sequences) : total;
  const corpusDir = values.corpus ? path.resolve(values.corpus) : path.resolve(repo, "../shared/corpus/rust-research");
  const requested = parseBackendChoice(values.backend);
  if (!requested) throw new Error(`--backend takes auto, node-llama-cpp or llama-server, not ${values.backend}`);
  const engine = chooseBackend(requested, { serverBin: findBenchTool("llama-server") });
  log(`engine: ${engine.reason}`);
  const files = values.files
    ? values.files.split(",").map((f) => f.trim())
    : values.first
      ? corpusFiles(corpusDir).slice(0, Number(values.first))
      : values.corpus
        ? corpusFiles(corpusDir)
        : DEFAULT_SLICE;
  const r = await runEngine({
    modelPath,
    corpusDir,
    files,
    backend: engine.backend,
    grammar: !values["no-grammar"],
    threads,
    sequences,
    roleCaps: Object.fromEntries(ROLES.map((role) => [role, Math.min(caps[role], sequences)])),
    // Without --concurrency the run's own rule: every agent, but a few files per thread on a CPU engine.
    concurrency: values.concurrency ? Number(values.concurrency) : total,
    cpuFilesInFlight: values.concurrency === undefined,
    contextSize: Number(values["context-size"]),
    rustc: values.rustc,
    log,
  });
  const name = values.name ?? `job-engine-${label}`;
  const date = new Date().toISOString();
  const md = [
    `## Job benchmark, engine mode (${label})`,
    "",
    `Measured ${date.slice(0, 16).replace("T", " ")} UTC with \`npm run bench -- --job ${process.argv
      .slice(2)
      .filter((a) => a !== "--job")
      .join(
        " ",
      )}\`${values.model ? "" : " (SYNTHETIC: random weights in the real model's shape; what the extractor finds and how many repairs follow is chance)"}.`,
    "",
    engineMarkdown(r),
    `![calls per sequence over time](${name}.svg)`,
    "",
  ].join("\n");
  fs.mkdirSync(values.out, { recursive: true });
  fs.writeFileSync(path.join(values.out, `${name}.md`), md);
  fs.writeFileSync(path.join(values.out, `${name}.svg`), timelineSvg(`${label}: model calls per sequence over time`, r.timeline, r.sequences, r.wallMs));
  const resultsDir = path.join(repo, ".bench/results");
  fs.mkdirSync(resultsDir, { recursive: true });
  const { events, ...kept } = r;
  fs.writeFileSync(path.join(resultsDir, `${name}.json`), `${JSON.stringify({ date, result: { ...kept, eta: etaAccuracySummary(r.eta) } }, null, 2)}\n`);
  writeEventRecording(path.join(resultsDir, `${name}.events.jsonl`), events, r.wallMs);
  log(
    `wrote ${path.join(values.out, `${name}.md`)}, .svg, ${path.join(resultsDir, `${name}.json`)} and the run's events (${name}.events.jsonl: \`npm run bench -- --job --eta-replay FILE\`)`,
  );
  if (values.json) {
    const { timeline: _t, events: _e, ...rest } = r;
    process.stdout.write(`${JSON.stringify({ ...rest, eta: etaAccuracySummary(r.eta), wallMs: Math.round(r.wallMs) })}\n`);
  } else process.stdout.write(md);
}

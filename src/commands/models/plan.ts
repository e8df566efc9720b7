/**
 * `npm run models -- plan --agents 30 [--memory 24GB] [--context 4096] [MODEL[=N]…]`: how many
 * agents of which models fit a machine of that size, with the arithmetic shown (the same
 * src/llm/memoryPlan.ts code the pipeline's admission runs), and the tokens/s a benchmark
 * measured for that model shape, where one exists.
 *
 * Models that are downloaded (or given as a path) are profiled from their GGUF; catalog models that
 * are not are profiled from the catalog's shape and size, and say so.
 *
 * Speed is the engine's: the plan names the engine a run would start here (src/llm/engineChooser.ts,
 * the run's own rule: llama-server where built, else node-llama-cpp in process), shows bench results
 * measured on that engine, and marks figures that come from the other one.
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../../errors.ts";
import type { ChosenBackend, ModelBackendKind } from "../../llm/chooseBackend.ts";
import { GRAMMAR_VS_FREE, SPEED_SOURCE } from "../../llm/engineSpeed.ts";
import { loadLlamaCpp } from "../../llm/llamaCpp.ts";
import {
  type FitResult,
  fitToBudget,
  formatBytes,
  formatFitArithmetic,
  kvBytesPerSequence,
  type ModelMemoryProfile,
  maxSequencesThatFit,
  profileFromShape,
  readModelMemoryProfile,
} from "../../llm/memoryPlan.ts";
import { isRemoteSpec } from "../../llm/resolveModel.ts";
import { type BenchMatch, type BenchResult, benchEngine, ENGINE_WORDS, formatBenchResult, matchBench, readBenchResults } from "./benchResults.ts";
import { type Catalog, type CatalogEntry, entrySizeBytes, findEntry, findEntryByUri, suggestNames } from "./catalog.ts";
import { renderTable } from "./table.ts";

export interface PlanModelArg {
  target: string;
  /** Agents for this model in a mix (NAME=N); undefined = the plan's --agents. */
  agents: number | undefined;
}

export interface PlanOptions {
  catalog: Catalog;
  /** Models directory to look for downloaded files in. */
  directory: string;
  agents: number;
  contextSize: number;
  minContextSize: number;
  budgetBytes: number;
  /** How the budget was chosen, for the header ("--memory 24GB", "80% of 7.8 GiB free RAM"). */
  budgetSource: string;
  reserveBytes: number;
  benchDir: string;
  /** The engine the plan assumes: what a run would start here (createEngineChooser), or --backend. */
  engine: ChosenBackend;
}

export interface PlannedModel {
  target: string;
  entry: CatalogEntry | undefined;
  /** GGUF file the profile was read from; undefined for shape-based profiles. */
  file: string | undefined;
  profile: ModelMemoryProfile;
  agents: number;
  fit: FitResult;
  /** Agents that fit at the requested context. */
  maxAgents: number;
  bench: BenchMatch | undefined;
  /** The engine the bench figures were measured on: the plan's engine, or the other one when only it was measured. */
  benchEngine: ModelBackendKind | undefined;
  /** Why there is no bench figure, when there is none. */
  benchMissing: string | undefined;
}

export interface PlanReport {
  options: Omit<PlanOptions, "catalog">;
  mode: "each" | "mix";
  models: PlannedModel[];
  /** The combined fit of a mix (NAME=N for every model). */
  mix: FitResult | undefined;
  benchWarnings: string[];
  benchDirExists: boolean;
}

/** Parses `NAME` or `NAME=N` (pure; the CLI parser uses it). Returns an error message on a bad count. */
export function parsePlanModelArg(arg: string): PlanModelArg | string {
  const m = /^(.+)=(\d+)$/.exec(arg);
  if (m) {
    const n = Number(m[2]);
    if (n < 1) return `agent count in "${arg}" must be at least 1`;
    return { target: m[1] ?? arg, agents: n };
  }
  if (arg.includes("=") && !isRemoteSpec(arg)) return `"${arg}": write NAME=N with N a positive integer`;
  return { target: arg, agents: undefined };
}

async function findDownloaded(uri: string, directory: string): Promise<string | undefined> {
  const { resolveModelFile } = await loadLlamaCpp();
  try {
    return await resolveModelFile(uri, { directory, download: false, cli: false });
  } catch {
    return undefined;
  }
}

async function profileFor(
  arg: PlanModelArg,
  agents: number,
  options: PlanOptions,
): Promise<{ entry: CatalogEntry | undefined; file: string | undefined; profile: ModelMemoryProfile }> {
  const asPath = path.resolve(arg.target);
  let entry: CatalogEntry | undefined;
  let file: string | undefined;
  if (!isRemoteSpec(arg.target) && fs.statSync(asPath, { throwIfNoEntry: false })?.isFile()) file = asPath;
  else {
    entry = isRemoteSpec(arg.target) ? findEntryByUri(options.catalog, arg.target) : findEntry(options.catalog, arg.target);
    if (!entry) {
      const near = isRemoteSpec(arg.target) ? [] : suggestNames(options.catalog, arg.target);
      throw new UserError(
        "MODEL_NOT_FOUND",
        `${arg.target} is neither a GGUF file nor a catalog model.`,
        `Pass catalog names${near.length > 0 ? ` (did you mean ${near.join(", ")}?)` : ""} or .gguf paths; \`npm run models -- list\` shows the catalog.`,
      );
    }
    file = await findDownloaded(entry.uri, options.directory);
  }
  const label = entry?.name ?? path.basename(arg.target);
  if (file) {
    const profile = await readModelMemoryProfile(file, { contextSize: options.contextSize, sequences: Math.max(2, agents), label });
    return { entry, file, profile };
  }
  const size = entry ? entrySizeBytes(entry) : undefined;
  if (!entry?.shape || size === undefined)
    throw new UserError(
      "MODEL_NOT_FOUND",
      `${label} is not downloaded and the catalog has no shape or size for it, so there is nothing to compute from.`,
      `Run \`npm run models -- pull ${label}\` first, then plan again.`,
    );
  return { entry, file: undefined, profile: profileFromShape(label, size, entry.shape, entry.contextLength ?? undefined) };
}

function benchFor(
  entry: CatalogEntry | undefined,
  results: readonly BenchResult[],
  agents: number,
  benchDir: string,
  engine: ModelBackendKind,
): { bench?: BenchMatch; engine?: ModelBackendKind; missing?: string } {
  if (!entry?.shape) return { missing: "no model shape known for this file (not a catalog model), so no bench result can match" };
  const found = (m: BenchMatch) => m.exact !== undefined || m.below !== undefined || m.above !== undefined;
  const same = matchBench(results, entry.shape.id, entry.quantization, agents, engine);
  if (found(same)) return { bench: same, engine };
  // Only the other engine measured this shape: shown, and marked as such.
  const any = matchBench(results, entry.shape.id, entry.quantization, agents);
  const other = any.exact ?? any.below ?? any.above;
  if (other) return { bench: any, engine: benchEngine(other) };
  return {
    missing: `no bench result for shape ${entry.shape.id} ${entry.quantization} in ${benchDir} (a benchmark run of this shape writes one: docs/MODELS.md, "Bench results")`,
  };
}

export async function planModels(args: readonly PlanModelArg[], options: PlanOptions): Promise<PlanReport> {
  const targets: PlanModelArg[] = args.length > 0 ? [...args] : options.catalog.models.map((m) => ({ target: m.name, agents: undefined }));
  const withCounts = targets.filter((t) => t.agents !== undefined).length;
  if (withCounts > 0 && withCounts < targets.length)
    throw new UserError(
      "USAGE",
      "Give every model an agent count (NAME=N) to plan a mix, or none to plan each model on its own.",
      "Example: plan qwen2.5-0.5b-instruct-q4_k_m=28 qwen2.5-1.5b-instruct-q4_k_m=2",
    );
  const mode = withCounts > 0 ? "mix" : "each";
  const bench = readBenchResults(options.benchDir);
  const models: PlannedModel[] = [];
  for (const t of targets) {
    const agents = t.agents ?? options.agents;
    const { entry, file, profile } = await profileFor(t, agents, options);
    const fit = fitToBudget([{ profile, sequences: agents }], {
      budgetBytes: options.budgetBytes,
      contextSize: options.contextSize,
      minContextSize: options.minContextSize,
      reserveBytes: options.reserveBytes,
    });
    const b = benchFor(entry, bench.results, agents, options.benchDir, options.engine.backend);
    models.push({
      target: t.target,
      entry,
      file,
      profile,
      agents,
      fit,
      maxAgents: maxSequencesThatFit(profile, options.contextSize, options.budgetBytes, options.reserveBytes),
      bench: b.bench,
      benchEngine: b.engine,
      benchMissing: b.missing,
    });
  }
  const mix =
    mode === "mix"
      ? fitToBudget(
          models.map((m) => ({ profile: m.profile, sequences: m.agents })),
          { budgetBytes: options.budgetBytes, contextSize: options.contextSize, minContextSize: options.minContextSize, reserveBytes: options.reserveBytes },
        )
      : undefined;
  const { catalog: _catalog, ...rest } = options;
  return { options: rest, mode, models, mix, benchWarnings: bench.warnings, benchDirExists: bench.dirExists };
}

function tokPerSec(m: PlannedModel, engine: ModelBackendKind): string {
  const other = m.benchEngine !== undefined && m.benchEngine !== engine ? `, ${ENGINE_WORDS[m.benchEngine]}` : "";
  if (m.bench?.exact) return `${m.bench.exact.aggregateTokPerSec.toFixed(0)} (${m.bench.exact.perAgentTokPerSec.toFixed(1)}/agent${other})`;
  if (m.bench?.below || m.bench?.above) return `other n only${other ? ` (${other.slice(2)})` : ""}`;
  return "no result";
}

/** What the tokens/s figures are: the engine they were measured on, free generation, and what the JSON grammar leaves of them. */
function speedBasis(engine: ChosenBackend): string {
  const server = engine.cost === undefined ? GRAMMAR_VS_FREE.patchedServer : GRAMMAR_VS_FREE.shippedServer;
  const underGrammar =
    engine.backend === "llama-server"
      ? `this llama-server keeps about ${server}x of it`
      : `node-llama-cpp in process keeps about ${GRAMMAR_VS_FREE.inProcess}x of it (the project's patched llama-server ${GRAMMAR_VS_FREE.patchedServer}x)`;
  return `Speed basis: tok/s are bench results of free generation measured on ${ENGINE_WORDS[engine.backend]} (figures from the other engine are marked); under the pipeline's JSON grammar ${underGrammar} (${SPEED_SOURCE}).`;
}

function fitWord(f: FitResult): string {
  return { fits: "yes", "shrunk-context": `ctx ${f.contextSize}`, "shrunk-sequences": `${f.models[0]?.sequences ?? 0} agents`, refused: "no" }[f.outcome];
}

export function formatPlan(r: PlanReport): string {
  const o = r.options;
  const L: string[] = [];
  L.push(
    `Plan: ${r.mode === "mix" ? "a mix of models" : `${o.agents} agents per model`}, ${o.contextSize} tokens of context per agent (floor ${o.minContextSize}), budget ${formatBytes(o.budgetBytes)} (${o.budgetSource}), reserve ${formatBytes(o.reserveBytes)} for the process.`,
  );
  L.push(`Engine: ${o.engine.reason}.`);
  if (o.engine.cost) L.push(`  ${o.engine.cost}.`);
  L.push(speedBasis(o.engine));
  L.push("");
  L.push(
    renderTable(
      [
        { header: "model" },
        { header: "from" },
        { header: "weights", align: "right" },
        { header: "KV/agent", align: "right" },
        { header: "agents", align: "right" },
        { header: "total", align: "right" },
        { header: "fits" },
        { header: "max agents", align: "right" },
        { header: "tok/s (bench)" },
      ],
      r.models.map((m) => [
        m.profile.label,
        m.file ? "GGUF" : "catalog",
        formatBytes(m.profile.weightsBytes),
        formatBytes(kvBytesPerSequence(m.profile, o.contextSize)),
        String(m.agents),
        formatBytes(m.fit.totalBytes),
        fitWord(m.fit),
        Number.isFinite(m.maxAgents) ? String(m.maxAgents) : "any",
        tokPerSec(m, o.engine.backend),
      ]),
    ),
  );
  L.push("");
  L.push("Arithmetic per model: weights A + overhead O + KV B x N = C, plus the reserve, against the budget D.");
  for (const m of r.models) {
    L.push("");
    L.push(
      `${m.profile.label}: ${m.file ? `from the GGUF ${m.file}` : "not downloaded: from the catalog's shape and approximate size (pull it for GGUF-based figures)"}`,
    );
    for (const line of formatFitArithmetic(m.fit)) L.push(`  ${line}`);
    L.push(`  at ${o.contextSize} tokens per agent, at most ${Number.isFinite(m.maxAgents) ? m.maxAgents : "any number of"} agents fit the budget`);
    for (const n of m.profile.notes ?? []) L.push(`  note: ${n}`);
    if (m.benchEngine !== undefined && m.benchEngine !== o.engine.backend)
      L.push(`  tokens/s: no bench result on ${ENGINE_WORDS[o.engine.backend]} for this shape; the figures below are ${ENGINE_WORDS[m.benchEngine]}'s`);
    if (m.bench?.exact) L.push(`  tokens/s (bench, same shape, quant and n): ${formatBenchResult(m.bench.exact)}`);
    else if (m.bench) {
      L.push(`  tokens/s: no bench result at n=${m.agents}; measured nearby (not interpolated):`);
      if (m.bench.below) L.push(`    ${formatBenchResult(m.bench.below)}`);
      if (m.bench.above) L.push(`    ${formatBenchResult(m.bench.above)}`);
    } else L.push(`  tokens/s: ${m.benchMissing}`);
  }
  if (r.mix) {
    L.push("");
    L.push("The mix, all models loaded at once:");
    for (const line of formatFitArithmetic(r.mix)) L.push(`  ${line}`);
  }
  if (!r.benchDirExists) L.push("", `No bench results: ${o.benchDir} does not exist (tokens/s are shown only where a benchmark measured them).`);
  for (const w of r.benchWarnings) L.push(`bench: ${w}`);
  return L.join("\n");
}

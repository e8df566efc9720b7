import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { filesInFlight } from "../../nodes/processFile.ts";
import { readEnv } from "../../src/config/env.ts";
import { loadDocument, scanInput } from "../../src/input/scanInput.ts";
import type { PromptTokenizer } from "../../src/llm/LlamaBackend.ts";
import { ROLES, type Role } from "../../src/llm/roles.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";
import { runPipeline } from "../../src/run/runPipeline.ts";
import { ReplayBackend, type ReplayCall } from "./ReplayBackend.ts";
import { type LabelledFile, ReplayRecipe } from "./replayRecipe.ts";

/** The slice issue 17 measured: four idioms of rust-unofficial/patterns (8.8 KB). */
export const DEFAULT_SLICE = [
  "rust-patterns/idioms/default.md",
  "rust-patterns/idioms/concat-format.md",
  "rust-patterns/idioms/mem-replace.md",
  "rust-patterns/idioms/option-iter.txt",
];

export interface ReplayOptions {
  /** Corpus root (../shared/corpus/rust-research) and the labels file beside it. */
  corpusDir: string;
  labelsPath: string;
  /** Paths relative to the corpus root. */
  files: string[];
  tokenizer: PromptTokenizer;
  /** Sequences of the one model (default agents config: 30) and per-role caps. */
  sequences: number;
  roleCaps: Partial<Record<Role, number>>;
  /** Files in flight (the pipeline's concurrency). */
  concurrency: number;
  contextTokens: number;
  /** Share of drafts that fail validation once (0: every answer valid on the first try). */
  failShare: number;
  /** Patterns per file: the labels', then the file's headings as further patterns up to this many (0: labels only). */
  patternsPerFile: number;
  kvReuse: boolean;
  /** Run the Rust code check with rustc when installed (default: parse only, so results do not depend on the machine). */
  rustc?: boolean;
}

export interface RoleFigures {
  calls: number;
  promptTokens: number;
  reusedPromptTokens: number;
  evaluatedPromptTokens: number;
  generatedTokens: number;
}

export interface FileFigures extends RoleFigures {
  file: string;
  sourceTokens: number;
  patterns: number;
  byRole: Partial<Record<Role, RoleFigures>>;
  /** Calls made in the whole run when this file's extractor started / when the file finished. */
  startedAtCall: number;
  finishedAtCall: number;
  status: string;
}

export interface ReplayResult {
  mode: "replay";
  tokenizer: string;
  kvReuse: boolean;
  failShare: number;
  failingDrafts: number;
  sequences: number;
  /** Files in flight at most (the concurrency bounded by the sequences). */
  concurrency: number;
  files: number;
  patterns: number;
  /** Per-file role calls (extractor, researcher, writer, validator); the synthesize step's cross-file judgements are in `synthesize`. */
  calls: number;
  promptTokens: number;
  reusedPromptTokens: number;
  evaluatedPromptTokens: number;
  generatedTokens: number;
  sourceTokens: number;
  evaluatedPerSourceToken: number;
  callsPerFile: number;
  synthesize: RoleFigures;
  byRole: Partial<Record<Role, RoleFigures>>;
  perFile: FileFigures[];
  kbEntries: number;
  quarantined: number;
  wallMs: number;
}

interface LabelsFile {
  files: { path: string; title: string; topics: string[]; patterns: { name: string }[]; headings: string[] }[];
}

export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  const labels = JSON.parse(fs.readFileSync(o.labelsPath, "utf8")) as LabelsFile;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "kb-job-replay-"));
  const input = path.join(work, "input");
  const out = path.join(work, "kb");
  fs.mkdirSync(input);
  const labelled: LabelledFile[] = [];
  const sourceTokens = new Map<string, number>();
  try {
    for (const rel of o.files) {
      const src = path.join(o.corpusDir, rel);
      const name = path.basename(rel);
      fs.copyFileSync(src, path.join(input, name));
      sourceTokens.set(name, o.tokenizer.countTokens(fs.readFileSync(src, "utf8")));
    }
    const scan = await scanInput(input);
    for (const f of scan.files) {
      const loaded = await loadDocument(f);
      if (!loaded.ok) throw new Error(`replay: cannot read ${f.relPath}: ${loaded.reason}`);
      const label = labels.files.find((l) => path.basename(l.path) === f.relPath);
      if (!label) throw new Error(`replay: ${f.relPath} has no entry in ${o.labelsPath}`);
      const names = label.patterns.map((p) => p.name);
      for (const h of label.headings) if (names.length < o.patternsPerFile) names.push(`${h} in ${label.title}`);
      labelled.push({ relPath: f.relPath, doc: loaded.doc, patterns: names, topics: label.topics });
    }
    const recipe = new ReplayRecipe(labelled, o.failShare);
    const backend = new ReplayBackend({
      tokenizer: o.tokenizer,
      recipe,
      sequences: o.sequences,
      roleCaps: o.roleCaps,
      contextTokens: o.contextTokens,
      kvReuse: o.kvReuse,
    });
    const started = new Map<string, number>();
    const finished = new Map<string, { at: number; status: string }>();
    const onEvent = (e: PipelineEvent) => {
      if (e.type === "node_started" && e.node === "extractor" && !started.has(e.path)) started.set(e.path, backend.calls.length);
      if (e.type === "file_finished") finished.set(e.path, { at: backend.calls.length, status: e.status });
    };
    // The real run (checkpoints, research on the input, code check) with the scripted backend serving every role.
    const t0 = performance.now();
    const summary = await runPipeline(
      { input, out, db: path.join(work, "runs.sqlite"), research: ["input"], rustc: o.rustc, keepHistory: true },
      { onEvent, env: readEnv(), models: { backendFor: () => backend, concurrency: o.concurrency, sequences: o.sequences } },
    );
    if (summary.status !== "done") throw new Error(`replay: the run ${summary.status}: ${summary.error?.message ?? ""}`);
    const wallMs = performance.now() - t0;
    const perFile = labelled.map((f): FileFigures => {
      const calls = backend.calls.filter((c) => c.file === f.relPath && c.role !== "synthesizer");
      return {
        file: f.relPath,
        sourceTokens: sourceTokens.get(f.relPath) ?? 0,
        patterns: f.patterns.length,
        ...figures(calls),
        byRole: byRole(calls),
        startedAtCall: started.get(f.relPath) ?? -1,
        finishedAtCall: finished.get(f.relPath)?.at ?? -1,
        status: finished.get(f.relPath)?.status ?? "not finished",
      };
    });
    const fileCalls = backend.calls.filter((c) => c.role !== "synthesizer");
    const total = figures(fileCalls);
    const source = [...sourceTokens.values()].reduce((a, b) => a + b, 0);
    return {
      mode: "replay",
      tokenizer: o.tokenizer.modelId,
      kvReuse: o.kvReuse,
      failShare: o.failShare,
      failingDrafts: recipe.failingDrafts,
      sequences: o.sequences,
      concurrency: filesInFlight(o.concurrency, o.sequences),
      files: labelled.length,
      patterns: labelled.reduce((a, f) => a + f.patterns.length, 0),
      ...total,
      sourceTokens: source,
      evaluatedPerSourceToken: source > 0 ? total.evaluatedPromptTokens / source : 0,
      callsPerFile: labelled.length > 0 ? total.calls / labelled.length : 0,
      synthesize: figures(backend.calls.filter((c) => c.role === "synthesizer")),
      byRole: byRole(fileCalls),
      perFile,
      kbEntries: summary.patterns,
      quarantined: summary.verification?.quarantined ?? 0,
      wallMs,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function figures(calls: readonly ReplayCall[]): RoleFigures {
  const sum = (f: (c: ReplayCall) => number) => calls.reduce((a, c) => a + f(c), 0);
  const promptTokens = sum((c) => c.promptTokens);
  const reusedPromptTokens = sum((c) => c.reusedPromptTokens);
  return {
    calls: calls.length,
    promptTokens,
    reusedPromptTokens,
    evaluatedPromptTokens: promptTokens - reusedPromptTokens,
    generatedTokens: sum((c) => c.generatedTokens),
  };
}

function byRole(calls: readonly ReplayCall[]): Partial<Record<Role, RoleFigures>> {
  const out: Partial<Record<Role, RoleFigures>> = {};
  for (const role of ROLES) {
    const mine = calls.filter((c) => c.role === role);
    if (mine.length > 0) out[role] = figures(mine);
  }
  return out;
}

/** The replay's figures as a markdown section. */
export function replayMarkdown(title: string, r: ReplayResult): string {
  const row = (name: string, f: RoleFigures) =>
    `| ${name} | ${f.calls} | ${f.promptTokens} | ${f.reusedPromptTokens} | ${f.evaluatedPromptTokens} | ${f.generatedTokens} |`;
  const lines = [
    `### ${title}`,
    "",
    `${r.files} files, ${r.patterns} patterns; tokenizer \`${r.tokenizer}\`; ${r.sequences} sequences, ${r.concurrency} files in flight at most; KV prefix reuse ${r.kvReuse ? "on" : "off"}; ${r.failingDrafts} of ${r.patterns} drafts fail validation once (share ${r.failShare}).`,
    "",
    `- **prompt tokens evaluated per source token: ${r.evaluatedPerSourceToken.toFixed(2)}** (${r.evaluatedPromptTokens} evaluated of ${r.promptTokens} prompt tokens, ${r.reusedPromptTokens} reused from the KV cache; ${r.sourceTokens} source tokens)`,
    `- **role calls per file: ${r.callsPerFile.toFixed(2)}** (${r.calls} calls; synthesize's cross-file judgements apart: ${r.synthesize.calls} calls, ${r.synthesize.evaluatedPromptTokens} tokens evaluated)`,
    `- generated tokens: ${r.generatedTokens}; knowledge base: ${r.kbEntries} entries, ${r.quarantined} quarantined`,
    "",
    "| role | calls | prompt tokens | reused (KV) | evaluated | generated |",
    "|---|---|---|---|---|---|",
    ...ROLES.filter((role) => r.byRole[role]).map((role) => row(role, r.byRole[role] as RoleFigures)),
    row("synthesize (synthesizer, cross-file)", r.synthesize),
    "",
    "| file | source tokens | patterns | calls (ext/res/wri/val) | prompt tokens | reused | evaluated | evaluated / source | generated | started at call | finished at call |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...r.perFile.map((f) => {
      const c = (role: Role) => f.byRole[role]?.calls ?? 0;
      return `| ${f.file} | ${f.sourceTokens} | ${f.patterns} | ${f.calls} (${c("extractor")}/${c("researcher")}/${c("writer")}/${c("validator")}) | ${f.promptTokens} | ${f.reusedPromptTokens} | ${f.evaluatedPromptTokens} | ${(f.sourceTokens > 0 ? f.evaluatedPromptTokens / f.sourceTokens : 0).toFixed(2)} | ${f.generatedTokens} | ${f.startedAtCall} | ${f.finishedAtCall} |`;
    }),
    "",
  ];
  return lines.join("\n");
}

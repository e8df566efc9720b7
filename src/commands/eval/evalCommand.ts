/**
 * `npm run eval`: runs (or reuses) a pipeline run, then scores its knowledge base against labels
 * and writes a markdown report. The pipeline itself is injected (cli/eval.ts passes
 * runGraphCommand), so src/ never imports cli/.
 */
import fs from "node:fs";
import path from "node:path";
import { isUserError, UserError } from "../../errors.ts";
import { loadDocument, scanInput } from "../../input/scanInput.ts";
import { inputFingerprint, KnowledgeBase } from "../../kb/KnowledgeBase.ts";
import { KbJsonSchema } from "../../kb/schema.ts";
import type { Entry, QuarantineRecord } from "../../kb/types.ts";
import { RunDatabase } from "../../store/RunDatabase.ts";
import { writeFileAtomic } from "../../util/atomicWrite.ts";
import { terminalText } from "../../util/terminalText.ts";
import type { GraphOptions } from "../graph/GraphOptions.ts";
import { labelsForInput, loadLabels } from "./labels.ts";
import type { EvalOptions } from "./parseEvalArgs.ts";
import { isTinyTestModel, renderEvalReport } from "./report.ts";
import { type EvalScores, scoreKb } from "./score.ts";

export interface EvalIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Runs the pipeline with the graph command's options; resolves to its exit code. */
export type RunPipeline = (options: GraphOptions) => Promise<number>;

export interface EvalResult {
  type: "eval";
  runId: string;
  model: string;
  reused: boolean;
  /** True when the model is one of the tiny test models: the scores then say nothing about quality. */
  meaningless: boolean;
  report: string;
  scores: Omit<EvalScores, "perLabel">;
}

/** The files a run over this input would process: path and content hash, duplicates and unreadable files left out (as discover does). */
export async function currentInputFiles(input: string, exclude: readonly string[], maxFileBytes: number): Promise<{ relPath: string; docId: string }[]> {
  const scan = await scanInput(input, { exclude: [...exclude], maxFileBytes });
  const seen = new Set<string>();
  const files: { relPath: string; docId: string }[] = [];
  for (const f of scan.files) {
    const loaded = await loadDocument(f, maxFileBytes);
    if (!loaded.ok || seen.has(loaded.doc.id)) continue;
    seen.add(loaded.doc.id);
    files.push({ relPath: f.relPath, docId: loaded.doc.id });
  }
  return files;
}

/** Why the knowledge base in --out can be reused for this evaluation, or why not. */
function reuseDecision(
  options: GraphOptions,
  files: readonly { relPath: string; docId: string }[],
): { reuse: true; runId: string; why: string } | { reuse: false; why: string } {
  const out = path.resolve(options.out);
  const dbPath = path.resolve(options.db);
  if (!fs.existsSync(path.join(out, ".kb", "kb.sqlite"))) return { reuse: false, why: `there is no knowledge base in ${out} yet` };
  if (!fs.existsSync(dbPath)) return { reuse: false, why: `the run database ${dbPath} does not exist` };
  const kb = KnowledgeBase.openExisting(out);
  let db: RunDatabase | undefined;
  try {
    const last = kb.lastRun();
    if (!last) return { reuse: false, why: "the knowledge base records no finished run" };
    db = RunDatabase.open(dbPath);
    const run = db.getRun(last.runId);
    if (!run) return { reuse: false, why: `run ${last.runId} that wrote the knowledge base is not in ${dbPath}` };
    if (run.status !== "done") return { reuse: false, why: `run ${run.id} did not finish (${run.status})` };
    if (run.input !== path.resolve(options.input) || run.out !== out) return { reuse: false, why: `run ${run.id} was over another input or output` };
    if (last.inputFingerprint !== inputFingerprint(files)) return { reuse: false, why: "the input files changed since that run" };
    const recordedModel = (JSON.parse(run.settings) as { options?: { model?: string } }).options?.model;
    if (options.model !== undefined && options.model !== recordedModel) return { reuse: false, why: `run ${run.id} used --model ${recordedModel}` };
    // The model behind a URL is only known by asking the server: the run checks it (its ledger keeps unchanged files).
    if (options.endpoints?.length) return { reuse: false, why: "a model server was named (--endpoint): the run checks which model it serves" };
    return { reuse: true, runId: run.id, why: `run ${run.id} finished over the same input` };
  } finally {
    db?.close();
    kb.close();
  }
}

function readKbJson(out: string): { entries: Entry[]; quarantined: QuarantineRecord[] } {
  const file = path.join(out, "kb.json");
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new UserError("DB_ERROR", `Cannot read ${file}: ${(e as Error).message}`, "Run the pipeline again (npm run eval -- --rerun …).");
  }
  const parsed = KbJsonSchema.safeParse(raw);
  if (!parsed.success)
    throw new UserError(
      "DB_ERROR",
      `${file} does not match kb.schema.json: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
      "It was written by another version: run the pipeline again (npm run eval -- --rerun …).",
    );
  const data = raw as { entries: Entry[]; quarantined: QuarantineRecord[] };
  return { entries: data.entries, quarantined: data.quarantined };
}

export async function runEvalCommand(options: EvalOptions, io: EvalIo, runPipeline: RunPipeline): Promise<number> {
  const say = (s: string) => io.stderr.write(`${terminalText(s)}\n`);
  try {
    const labels = loadLabels(options.labels);
    const g = options.graph;
    const out = path.resolve(g.out);
    const dbPath = path.resolve(g.db);
    const exclude = [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, out];
    const files = fs.existsSync(g.input) ? await currentInputFiles(path.resolve(g.input), exclude, g.maxFileMb * 1024 * 1024) : [];
    let reused = false;
    const decision = options.rerun || g.resume ? { reuse: false as const, why: options.rerun ? "--rerun" : "--resume" } : reuseDecision(g, files);
    if (decision.reuse) {
      reused = true;
      say(`Reusing the knowledge base in ${out}: ${decision.why}.`);
    } else {
      say(`Running the pipeline (${decision.why}).`);
      const code = await runPipeline(g);
      if (code !== 0) {
        say(`The pipeline run did not finish (exit code ${code}); nothing to score.`);
        return code;
      }
    }

    const kb = KnowledgeBase.openExisting(out);
    const last = kb.lastRun();
    kb.close();
    if (!last) throw new UserError("DB_ERROR", `The knowledge base in ${out} records no run.`, "Run the evaluation again with --rerun.");
    const db = RunDatabase.open(dbPath);
    const run = db.getRun(last.runId);
    db.close();
    const modelId = run?.model ?? "unknown model";
    const { entries, quarantined } = readKbJson(out);
    const scores = scoreKb({
      entries,
      quarantined,
      labels: labelsForInput(
        labels,
        files.map((f) => f.relPath),
      ),
      inputFiles: files.length,
    });
    const report = path.resolve(options.report ?? path.join(out, ".runs", `eval-${last.runId}.md`));
    writeFileAtomic(
      report,
      renderEvalReport(scores, { runId: last.runId, modelId, input: path.resolve(g.input), labelsFile: path.resolve(options.labels), reused }),
    );
    const meaningless = isTinyTestModel(modelId);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    say(
      `Recall ${scores.recalled}/${scores.labels} (${pct(scores.recall)}), loose ${scores.looselyRecalled}/${scores.labels} (${pct(scores.looseRecall)}); ` +
        `${scores.entries} entries, ${scores.unlabelled.length} matching no label, ${scores.duplicateEntries} duplicate entries left.`,
    );
    if (meaningless) say(`These scores are meaningless: ${modelId} is a tiny test model.`);
    say(`Report: ${report}`);
    if (g.json) {
      const { perLabel: _perLabel, ...summary } = scores;
      const result: EvalResult = { type: "eval", runId: last.runId, model: modelId, reused, meaningless, report, scores: summary };
      io.stdout.write(`${JSON.stringify(result)}\n`);
    }
    return 0;
  } catch (e) {
    if (isUserError(e)) {
      say(`error: ${e.message}${e.hint ? `\n${e.hint}` : ""}`);
      return e.code === "USAGE" ? 2 : 1;
    }
    throw e;
  }
}

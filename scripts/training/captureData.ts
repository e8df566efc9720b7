/**
 * Training data for the project's own small model (issue 21), captured from the pipeline itself:
 * replay runs (bench/job: the recipe answers every role validly from the corpus labels) over
 * ../shared/corpus/rust-research, each through the real graph, prompts, chunking and repair loop,
 * with every role call's real prompt (system + user through the chat template, as token IDs of the
 * Llama-2 32k vocabulary) and the recipe's answer written as one JSONL line.
 *
 *   npx tsx scripts/training/captureData.ts [--seed 1] [--runs 48] [--holdout 6] [--out .training/data.jsonl]
 *
 * Variation, all from the seed: which files and in what order, excerpts of markdown files (a run of
 * their sections, so unit numbering and chunking differ), folder and file names, 1-3 patterns per
 * file, the context size (chunking), and a share of drafts that fail validation once (their repair
 * prompts carry the validator's problems). Spoiled drafts are written with `"valid": false` and are
 * not training targets. `--holdout N` keeps N corpus files out of every run (listed in the meta line,
 * the first line of the file) so a model can be measured on files it has never seen.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ReplayBackend } from "../../bench/job/ReplayBackend.ts";
import { type LabelledFile, ReplayRecipe } from "../../bench/job/replayRecipe.ts";
import { readEnv } from "../../src/config/env.ts";
import { loadDocument, scanInput } from "../../src/input/scanInput.ts";
import { loadAgentsConfig } from "../../src/llm/agentsConfig.ts";
import { loadPromptTokenizer, openLlama, type PromptTokenizer } from "../../src/llm/LlamaBackend.ts";
import { ROLES, type Role } from "../../src/llm/roles.ts";
import { runPipeline } from "../../src/run/runPipeline.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

interface Label {
  path: string;
  title: string;
  topics: string[];
  patterns: { name: string }[];
  headings: string[];
}

/** One file of a run: where it goes in the run's input, its text, and the names the recipe answers with. */
interface RunFile {
  relPath: string;
  text: string;
  patterns: string[];
  topics: string[];
  origin: string;
}

/** xorshift32: the same stream for the same seed on every machine. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4_294_967_296;
  };
}

function shuffle<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const pick = <T>(items: readonly T[], rand: () => number): T => items[Math.floor(rand() * items.length)] as T;

/** Headings that name a part of a chapter, not a pattern. */
const GENERIC =
  /^(description|example|examples?:.*|motivation|advantages|disadvantages|discussion|see also|alternatives?|problem|solution|rationale|applicability|code example|summary|note|notes)$/i;

const FOLDERS = ["", "notes", "rust", "research/idioms", "reading/2026", "patterns", "from-the-book", "team-notes/rust"];
const PREFIXES = ["", "", "", "notes-", "rust-", "on-", "study-"];

/**
 * A markdown excerpt: the title line plus a contiguous run of level-2/3 sections. Names: the labels'
 * patterns the excerpt still mentions, else its headings.
 */
function excerpt(text: string, label: Label, rand: () => number): { text: string; patterns: string[] } | undefined {
  const lines = text.split("\n");
  const starts = lines.flatMap((l, i) => (/^#{2,3} \S/.test(l) ? [i] : []));
  if (starts.length < 2) return undefined;
  const from = Math.floor(rand() * starts.length);
  const count = 1 + Math.floor(rand() * Math.min(3, starts.length - from));
  const end = starts[from + count] ?? lines.length;
  const title = lines.find((l) => /^# \S/.test(l)) ?? `# ${label.title}`;
  const body = lines.slice(starts[from], end).join("\n");
  const lower = body.toLowerCase();
  const named = label.patterns.map((p) => p.name).filter((n) => lower.includes(n.toLowerCase()));
  const headings = [...body.matchAll(/^#{2,3} (.+)$/gm)]
    .map((m) => (m[1] ?? "").replace(/[`*_]/g, "").trim())
    .filter((h) => h.length >= 3 && h.length <= 60 && !GENERIC.test(h));
  const patterns = named.length > 0 ? named : headings;
  return patterns.length > 0 ? { text: `${title}\n\n${body}\n`, patterns } : undefined;
}

function runFiles(corpusDir: string, labels: Label[], rand: () => number): RunFile[] {
  const chosen = shuffle(labels, rand).slice(0, 6 + Math.floor(rand() * 9));
  const used = new Set<string>();
  const perFile = 1 + Math.floor(rand() * 3);
  return chosen.map((label) => {
    const full = fs.readFileSync(path.join(corpusDir, label.path), "utf8");
    const cut = label.path.endsWith(".md") && rand() < 0.4 ? excerpt(full, label, rand) : undefined;
    const ext = path.extname(label.path);
    let relPath: string;
    do
      relPath = path.posix.join(
        pick(FOLDERS, rand),
        `${pick(PREFIXES, rand)}${path.basename(label.path, ext)}${cut ? `-part${1 + Math.floor(rand() * 9)}` : ""}${ext}`,
      );
    while (used.has(relPath));
    used.add(relPath);
    const names = cut?.patterns ?? label.patterns.map((p) => p.name);
    // 1-3 patterns: the labels', then the file's own headings that name something (not "Example").
    const extra = cut ? [] : label.headings.filter((h) => h.length >= 3 && h.length <= 60 && !GENERIC.test(h) && !names.includes(h));
    const patterns = [...names, ...extra].slice(0, Math.max(perFile, Math.min(names.length, 3)));
    return { relPath, text: cut?.text ?? full, patterns, topics: label.topics, origin: label.path };
  });
}

interface Captured {
  role: Role;
  file: string;
  origin: string;
  valid: boolean;
  system: string;
  user: string;
  answer: string;
  prompt: number[];
  completion: number[];
}

async function captureRun(run: number, files: RunFile[], tokenizer: PromptTokenizer, contextTokens: number, failShare: number): Promise<Captured[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "kb-train-capture-"));
  try {
    const input = path.join(work, "input");
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(input, f.relPath)), { recursive: true });
      fs.writeFileSync(path.join(input, f.relPath), f.text);
    }
    const scan = await scanInput(input);
    const labelled: LabelledFile[] = [];
    for (const s of scan.files) {
      const f = files.find((x) => x.relPath === s.relPath);
      const loaded = await loadDocument(s);
      if (!f || !loaded.ok) throw new Error(`capture: cannot read ${s.relPath}`);
      labelled.push({ relPath: f.relPath, doc: loaded.doc, patterns: f.patterns, topics: f.topics });
    }
    const agents = loadAgentsConfig();
    const sequences = ROLES.reduce((a, r) => a + agents.roles[r].agents, 0);
    const out: Captured[] = [];
    const backend = new ReplayBackend({
      tokenizer,
      recipe: new ReplayRecipe(labelled, failShare),
      sequences,
      roleCaps: Object.fromEntries(ROLES.map((r) => [r, agents.roles[r].agents])),
      contextTokens,
      kvReuse: false,
      onCall: (call, request, prompt, answer) =>
        out.push({
          role: call.role,
          file: call.file,
          origin: files.find((f) => f.relPath === call.file)?.origin ?? "(run)",
          valid: answer.valid,
          system: request.prompt.system,
          user: request.prompt.user,
          answer: answer.text,
          prompt: [...prompt],
          completion: tokenizer.tokenize(answer.text),
        }),
    });
    const summary = await runPipeline(
      { input, out: path.join(work, "kb"), db: path.join(work, "runs.sqlite"), research: ["input"], rustc: false },
      { env: readEnv(), models: { backendFor: () => backend, concurrency: sequences, sequences } },
    );
    if (summary.status !== "done") throw new Error(`capture run ${run}: ${summary.status} ${summary.error?.message ?? ""}`);
    return out;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: "string", default: "1" },
      runs: { type: "string", default: "48" },
      holdout: { type: "string", default: "6" },
      out: { type: "string", default: ".training/data.jsonl" },
      tokenizer: { type: "string" },
    },
  });
  const seed = Number(values.seed);
  const corpusDir = path.resolve(repo, "../shared/corpus/rust-research");
  const labelsPath = path.resolve(repo, "../shared/corpus/rust-research.labels.json");
  const tokenizerPath = path.resolve(values.tokenizer ?? path.join(repo, "../shared/models/llama-2-tiny-random-chatml.gguf"));
  const labels = (JSON.parse(fs.readFileSync(labelsPath, "utf8")) as { files: Label[] }).files;
  // Held out: never in any run, so a model can be measured on files it has not seen.
  const holdout = shuffle(labels, rng(seed * 7919)).slice(0, Number(values.holdout));
  const training = labels.filter((l) => !holdout.includes(l));
  const llama = await openLlama({ maxThreads: 1, gpu: false });
  const tokenizer = await loadPromptTokenizer(llama, tokenizerPath);
  const outPath = path.resolve(values.out);
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  const sink = fs.createWriteStream(outPath);
  const meta = {
    meta: {
      generator: "scripts/training/captureData.ts",
      seed,
      runs: Number(values.runs),
      tokenizer: tokenizer.modelId,
      corpus: "../shared/corpus/rust-research",
      holdout: holdout.map((l) => l.path),
      trainingFiles: training.map((l) => l.path),
    },
  };
  sink.write(`${JSON.stringify(meta)}\n`);
  const seen = new Set<string>();
  const counts: Record<string, number> = {};
  try {
    for (let run = 0; run < Number(values.runs); run++) {
      const rand = rng(seed * 1_000_003 + run);
      const files = runFiles(corpusDir, training, rand);
      const contextTokens = pick([2048, 3072, 4096, 4096], rand);
      const failShare = pick([0, 0.2, 0.35], rand);
      const calls = await captureRun(run, files, tokenizer, contextTokens, failShare);
      for (const c of calls) {
        const key = crypto
          .createHash("sha256")
          .update(JSON.stringify([c.prompt, c.completion]))
          .digest("hex");
        if (seen.has(key)) continue;
        seen.add(key);
        const kind = `${c.role}${c.valid ? "" : " (spoiled)"}`;
        counts[kind] = (counts[kind] ?? 0) + 1;
        sink.write(`${JSON.stringify({ run, ...c })}\n`);
      }
      process.stderr.write(`run ${run + 1}/${values.runs}: ${files.length} files, context ${contextTokens}, fail share ${failShare}, ${calls.length} calls\n`);
    }
  } finally {
    await new Promise<void>((r) => sink.end(r));
    await tokenizer.dispose();
    await llama.dispose();
  }
  process.stderr.write(`${outPath}: ${seen.size} examples ${JSON.stringify(counts)}\n`);
}

await main();

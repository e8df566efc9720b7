/**
 * Generates a knowledge base of N entries (default 1,000) for checks at scale: N notes (plus one
 * note in ten repeating a pattern under the same name, so entries merge drafts from two files) in
 * `<dir>/notes`, then the pipeline itself (runPipeline) over them into `<dir>/kb`, with a scripted
 * model whose drafts all pass validation. Deterministic for a seed; not committed output.
 *
 *   npx tsx scripts/generateKb.ts --dir /tmp/kb1000 [--entries 1000] [--seed 1]
 *
 * Prints the run's summary line. bench/kbScale.ts measures search, show, the site and the MCP
 * server on what it writes.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { CATEGORIES } from "../src/kb/taxonomy.ts";
import type { BackendRequest, BackendResult, ModelBackend } from "../src/llm/types.ts";
import { runPipeline } from "../src/run/runPipeline.ts";

const QUALIFIERS = [
  "Borrowed",
  "Owned",
  "Scoped",
  "Lazy",
  "Checked",
  "Typed",
  "Shared",
  "Pinned",
  "Boxed",
  "Sealed",
  "Layered",
  "Cached",
  "Fallible",
  "Static",
  "Generic",
  "Bounded",
  "Streaming",
  "Buffered",
  "Atomic",
  "Guarded",
  "Zero-cost",
  "Deferred",
  "Indexed",
  "Tagged",
  "Fused",
  "Split",
];
const SUBJECTS = [
  "iterator",
  "error",
  "builder",
  "handle",
  "slice",
  "buffer",
  "trait object",
  "closure",
  "channel",
  "lock",
  "future",
  "callback",
  "config",
  "parser",
  "cursor",
  "arena",
  "registry",
  "visitor",
  "state machine",
  "newline",
  "token",
  "path",
  "timer",
  "socket",
  "cache",
  "matrix",
];
const NOUNS = [
  "adapter",
  "wrapper",
  "guard",
  "facade",
  "pool",
  "view",
  "strategy",
  "extension",
  "conversion",
  "accessor",
  "collector",
  "splitter",
  "combinator",
  "constructor",
  "validator",
  "projection",
  "sentinel",
  "handoff",
  "snapshot",
  "proxy",
  "marker",
  "ledger",
  "shim",
  "bridge",
];
const VERBS = ["keeps", "hides", "moves", "checks", "shares", "splits", "joins", "caches", "limits", "names"];
const BENEFITS = [
  "avoids a clone on the hot path",
  "lets the compiler reject misuse at the call site",
  "keeps the borrow short so callers can mutate again",
  "turns a runtime panic into a Result the caller handles",
  "makes the invariant visible in the type",
  "keeps allocation out of the loop",
  "gives callers one obvious way to do it",
  "lets tests substitute a fake",
];
const LINTS = ["unwrap_used", "clone_on_ref_ptr", "needless_collect", "large_enum_variant", "missing_errors_doc", "redundant_clone", "manual_map", "iter_nth"];
const GUIDELINES = ["C-CONV", "C-BUILDER", "C-NEWTYPE", "C-COMMON-TRAITS", "C-GOOD-ERR", "C-ITER", "C-CALLER-CONTROL", "C-DEREF"];

interface NoteSpec {
  relPath: string;
  name: string;
  category: string;
  sentences: [string, string];
  when: string;
  whenNot: string;
  pitfall: string | undefined;
}

/** mulberry32: a small seeded generator, so the same seed writes the same notes. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function notes(entries: number, seed: number): { specs: NoteSpec[]; texts: Map<string, string> } {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const names = new Set<string>();
  const specs: NoteSpec[] = [];
  const texts = new Map<string, string>();
  const categories = CATEGORIES.map((c) => c.id).filter((c) => c !== "other");
  while (names.size < entries) {
    const name = `${pick(QUALIFIERS)} ${pick(SUBJECTS)} ${pick(NOUNS)}`;
    if (names.has(name)) continue;
    names.add(name);
    const i = names.size;
    const subject = name.split(" ").slice(1, -1).join(" ");
    const lint = rnd() < 0.3 ? pick(LINTS) : undefined;
    const guideline = rnd() < 0.25 ? pick(GUIDELINES) : undefined;
    const sentences: [string, string] = [
      `The ${name.toLowerCase()} ${pick(VERBS)} the ${subject} behind a small type of its own, so the code around it stays simple.`,
      `It ${pick(BENEFITS)}, and it ${pick(BENEFITS)}.`,
    ];
    const refs = [
      lint ? `Clippy's lint clippy::${lint} flags the code it replaces.` : "",
      guideline ? `The Rust API Guidelines ask for it (${guideline}).` : "",
    ]
      .filter(Boolean)
      .join(" ");
    const spec = (category: string, copy: number): NoteSpec => ({
      relPath: `${category}/${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}${copy > 0 ? `-${copy}` : ""}.md`,
      name,
      category,
      sentences,
      when: `Use it when the ${subject} is read in many places but changed in one.`,
      whenNot: `Avoid it when a plain function over the ${subject} says the same with less code.`,
      pitfall: rnd() < 0.5 ? `Forgetting that the ${subject} outlives the ${name.split(" ").at(-1)} leads to a borrow error far from the cause.` : undefined,
    });
    const copies = i % 10 === 0 ? [pick(categories), pick(categories)] : [pick(categories)];
    for (const [k, category] of copies.entries()) {
      const s = spec(category, k);
      specs.push(s);
      const lines = 3 + Math.floor(rnd() * 20);
      const body = Array.from({ length: lines - 2 }, (_, j) => `    let step_${j} = input.len() + ${j};`).join("\n");
      texts.set(
        s.relPath,
        `# ${name}\n\n${sentences.join(" ")} ${refs}\n\n## When it applies\n\n${s.when}\n\n## When it does not\n\n${s.whenNot}${
          s.pitfall ? ` ${s.pitfall}` : ""
        }\n\n\`\`\`rust\nfn example_${i}_${k}(input: &[u32]) -> usize {\n${body}\n    input.len()\n}\n\`\`\`\n`,
      );
    }
  }
  return { specs, texts };
}

/** Answers every role from the note's spec: drafts quoted from the note, so every grounding check passes. */
export class GeneratedNotesModel implements ModelBackend {
  readonly modelId = "generated-notes@1";
  readonly contextTokens = 16_384;
  constructor(private readonly byPath: ReadonlyMap<string, NoteSpec>) {}

  countTokens(text: string): number {
    return Math.ceil(text.length / 4);
  }

  async generate(request: BackendRequest): Promise<BackendResult> {
    const text = this.answer(request);
    return { text, inputTokens: this.countTokens(request.prompt.system + request.prompt.user), outputTokens: this.countTokens(text), stopReason: "eogToken" };
  }

  private answer(req: BackendRequest): string {
    const spec = this.byPath.get(req.affinityKey ?? "");
    const keys = Object.keys(
      (req.grammarSchema as { properties?: { byPattern?: { properties?: Record<string, unknown> } } } | undefined)?.properties?.byPattern?.properties ?? {},
    );
    const perPattern = (one: unknown) => JSON.stringify(keys.length > 0 ? { byPattern: Object.fromEntries(keys.map((k) => [k, one])) } : one);
    switch (req.role) {
      case "extractor":
        return JSON.stringify({
          patterns: spec
            ? [{ name: spec.name, category: spec.category, summary: spec.sentences[0], evidence: /\bC1\b/.test(req.prompt.user) ? ["S1", "C1"] : ["S1"] }]
            : [],
        });
      case "researcher":
        return perPattern({ relevant: [], note: "" });
      case "writer":
        return perPattern({
          summary: spec?.sentences.join(" ") ?? "",
          whenToUse: [spec?.when ?? ""],
          whenNotToUse: [spec?.whenNot ?? ""],
          pitfalls: spec?.pitfall ? [spec.pitfall] : [],
          example: /Code blocks for the example: [^\n]*C1/.test(req.prompt.user) ? "C1" : "none",
          sources: [],
        });
      case "validator":
        return perPattern({ verdict: "pass", problems: [] });
      case "synthesizer":
        return JSON.stringify({ verdict: "different", reason: "generated notes are different patterns" });
    }
  }
}

/** Writes the notes into `<dir>/notes` (unless `write` is false: they are there already); returns the model that answers for them. */
export function writeGeneratedNotes(dir: string, entries: number, seed = 1, write = true): { input: string; notes: number; model: GeneratedNotesModel } {
  const { specs, texts } = notes(entries, seed);
  const input = path.join(dir, "notes");
  if (write)
    for (const [rel, text] of texts) {
      fs.mkdirSync(path.dirname(path.join(input, rel)), { recursive: true });
      fs.writeFileSync(path.join(input, rel), text);
    }
  return { input, notes: specs.length, model: new GeneratedNotesModel(new Map(specs.map((s) => [s.relPath, s]))) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: "string" }, entries: { type: "string" }, seed: { type: "string" } } });
  if (!values.dir) throw new Error("usage: npx tsx scripts/generateKb.ts --dir DIR [--entries 1000] [--seed 1]");
  const dir = path.resolve(values.dir);
  const { input, notes: count, model } = writeGeneratedNotes(dir, Number(values.entries ?? 1000), Number(values.seed ?? 1));
  const started = Date.now();
  const summary = await runPipeline(
    { input, out: path.join(dir, "kb"), db: path.join(dir, "runs.sqlite"), research: ["input"], rustc: false, concurrency: 8 },
    { models: { backendFor: () => model, concurrency: 8 } },
  );
  process.stderr.write(`${count} notes, ${summary.patterns} entries in ${path.join(dir, "kb")}, pipeline ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (summary.status !== "done") process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();

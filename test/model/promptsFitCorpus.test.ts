/**
 * Every role's real prompts for every file of ../shared/corpus/rust-research, measured with real
 * tokenizers and the model's chat template, fit the context with their answer's full limit: the
 * last-resort cut (src/llm/fitPrompt.ts) never fires and the extractor reads every unit whole
 * (issue 26: 41 prompts of a 30-file run were cut, 8,174 extractor tokens left out). Tokenizers:
 * the synthetic SmolLM2-135M vocabulary the run used (about 1.8 characters per token on
 * this corpus, the worst case) and the Llama-2 vocabulary of the test models and the trained model.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import { DEFAULT_SETTINGS } from "../../nodes/deps.ts";
import { extractorChunks, fileSystemPrompt, renderExtractorUser } from "../../nodes/fileContext.ts";
import { DEFAULT_CONTEXT_SIZE } from "../../src/config/defaults.ts";
import { writeSyntheticGguf } from "../../src/gguf/writeSyntheticGguf.ts";
import { loadDocument, scanInput } from "../../src/input/scanInput.ts";
import type { SourceDocument } from "../../src/input/types.ts";
import { CATEGORY_IDS } from "../../src/kb/taxonomy.ts";
import { fitPrompt } from "../../src/llm/fitPrompt.ts";
import { loadPromptTokenizer, openLlama, type PromptTokenizer } from "../../src/llm/LlamaBackend.ts";
import { LlmService } from "../../src/llm/LlmService.ts";
import type { Llama } from "../../src/llm/llamaCpp.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { PromptLibrary } from "../../src/prompts/PromptLibrary.ts";
import { InputSetProvider } from "../../src/research/InputSetProvider.ts";
import type { ResearchProvider } from "../../src/research/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { patternKeys, ScriptedBackend, sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

const CORPUS = sharedCorpus("rust-research");
const CONTEXTS = [...new Set([4096, DEFAULT_CONTEXT_SIZE])];

let dir: string;
let llama: Llama;
const tokenizers = new Map<string, PromptTokenizer>();
const docs = new Map<string, SourceDocument>();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-fit-corpus-"));
  // The synthetic SmolLM2-135M model's vocabulary and chat template (src/gguf/syntheticTokenizer.ts), in a model of one tiny layer.
  const smol = path.join(dir, "smollm2-vocab.gguf");
  await writeSyntheticGguf({
    shape: {
      name: "smollm2-vocab",
      mirrors: "SmolLM2-135M (vocabulary only)",
      arch: "llama",
      layers: 1,
      hidden: 64,
      heads: 1,
      kvHeads: 1,
      ffn: 64,
      vocab: 49152,
      contextLength: 8192,
      ropeFreqBase: 100000,
      rmsEps: 1e-5,
      qkvBias: false,
      tiedEmbeddings: true,
    },
    quant: "F16",
    outPath: smol,
  });
  llama = await openLlama({ maxThreads: 1, gpu: false });
  tokenizers.set("synthetic SmolLM2-135M", await loadPromptTokenizer(llama, smol));
  tokenizers.set("Llama-2", await loadPromptTokenizer(llama, sharedModel("llama-2-tiny-random-chatml.gguf")));
  for (const f of (await scanInput(CORPUS)).files) {
    const r = await loadDocument(f);
    if (r.ok) docs.set(f.relPath, r.doc);
  }
});
afterAll(async () => {
  for (const t of tokenizers.values()) await t.dispose();
  await llama?.dispose();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A model stand-in that counts tokens with a real vocabulary and answers with the script. */
class TokenizerBackend extends ScriptedBackend {
  constructor(
    private readonly tokenizer: PromptTokenizer,
    script: ConstructorParameters<typeof ScriptedBackend>[0],
    contextTokens: number,
  ) {
    super(script, { contextTokens, modelId: tokenizer.modelId });
  }
  override countTokens(text: string): number {
    return this.tokenizer.countTokens(text);
  }
}

/** System and user text as the model's chat template renders them, plus the answer's limit. */
const sequenceTokens = (t: PromptTokenizer, r: { prompt: { system: string; user: string }; maxTokens: number }) =>
  t.promptTokens(r.prompt.system, r.prompt.user).length + r.maxTokens;

describe("the extractor reads every unit of every corpus file whole, in prompts that fit", () => {
  for (const name of ["synthetic SmolLM2-135M", "Llama-2"])
    for (const context of CONTEXTS)
      it(`${name} vocabulary, ${context} tokens per sequence`, () => {
        const tokenizer = tokenizers.get(name) as PromptTokenizer;
        const backend = new TokenizerBackend(tokenizer, () => "", context);
        const deps = { prompts: PromptLibrary.load(), llm: new LlmService({ backendFor: () => backend }), settings: DEFAULT_SETTINGS };
        expect(docs.size).toBe(48);
        let chunks = 0;
        for (const [relPath, doc] of docs) {
          const got = extractorChunks(deps, relPath, doc);
          expect(got.flatMap((c) => c.units.map((u) => u.id))).toEqual(doc.units.map((u) => u.id));
          for (const c of got) {
            expect(c.shown.filter((u) => u.shortened || u.leftOut).map((u) => `${relPath} ${u.id}`)).toEqual([]);
            const prompt = { system: fileSystemPrompt(deps), user: renderExtractorUser(deps, relPath, doc, c.text) };
            const maxTokens = DEFAULT_SETTINGS.maxTokens.extractor;
            expect(fitPrompt(prompt, maxTokens, backend), `${relPath}: the extractor's prompt is cut`).toEqual({ prompt, maxTokens });
            expect(sequenceTokens(tokenizer, { prompt, maxTokens }), relPath).toBeLessThanOrEqual(context);
            chunks++;
          }
        }
        expect(chunks).toBeGreaterThanOrEqual(docs.size);
      });
});

/** Deterministic English prose of `n` characters (answers as long as their schema allows). */
function prose(n: number, seed: string): string {
  const text =
    "Use this pattern when a value must leave a mutable reference without cloning it, and keep the owner valid by putting a default in its place; the borrow checker then accepts the move and the code stays clear. ";
  let h = 0;
  for (const c of seed) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return text
    .repeat(Math.ceil(n / text.length) + 2)
    .slice(h % text.length, (h % text.length) + n)
    .trim()
    .padEnd(n, ".");
}

const enumAt = (schema: unknown, keys: readonly string[]): string[] => {
  let s = schema as Record<string, unknown> | undefined;
  for (const k of keys) s = s?.[k] as Record<string, unknown> | undefined;
  return (s?.enum as string[] | undefined) ?? [];
};

/**
 * The longest answers the schemas allow: the extractor finds patterns in every chunk (six per file
 * in all, so every chunk is read) citing the largest units of its chunk; the researcher keeps every
 * excerpt; the writer fills every field to its limit; the validator rejects every draft with three
 * long problems, so the repair round's prompt carries the feedback.
 */
function worstCase(chunksOf: (relPath: string) => number) {
  return (req: BackendRequest): string => {
    const file = req.callKey?.split("|")[0] ?? "";
    const keys = patternKeys(req) ?? [];
    const byPattern = (answer: (props: unknown, key: string) => unknown) => {
      const props = (req.grammarSchema as { properties: { byPattern: { properties: Record<string, unknown> } } }).properties.byPattern.properties;
      return JSON.stringify({ byPattern: Object.fromEntries(keys.map((k) => [k, answer(props[k], k)])) });
    };
    switch (req.role) {
      case "extractor": {
        const ids = enumAt(req.grammarSchema, ["properties", "patterns", "items", "properties", "evidence", "items"]);
        const i = Number(/chunk(\d+)/.exec(req.callKey ?? "")?.[1] ?? 0);
        const n = chunksOf(file);
        const upTo = (k: number) => (k < 0 ? 0 : Math.max(1, Math.floor((6 * (k + 1)) / n)));
        const units = (docs.get(file)?.units ?? []).filter((u) => ids.includes(u.id)).sort((a, b) => b.text.length - a.text.length);
        return JSON.stringify({
          patterns: Array.from({ length: upTo(i) - upTo(i - 1) }, (_, j) => {
            const u = units[j % units.length];
            return {
              name: `${u?.title.split(" > ").pop() ?? "Pattern"}`.slice(0, 52).padEnd(3, ".") + ` ${i}.${j}`,
              category: CATEGORY_IDS[j % CATEGORY_IDS.length],
              summary: `${(u?.text ?? "").replace(/\s+/g, " ")} ${prose(280, file)}`.slice(0, 280),
              evidence: units.slice(0, 4).map((x) => x.id),
            };
          }),
        });
      }
      case "researcher":
        return byPattern((p, k) => ({ relevant: enumAt(p, ["properties", "relevant", "items"]), note: prose(240, k) }));
      case "writer":
        return byPattern((p, k) => ({
          summary: prose(600, `${k}s`),
          whenToUse: ["a", "b", "c", "d"].map((x) => prose(200, k + x)),
          whenNotToUse: ["e", "f", "g"].map((x) => prose(200, k + x)),
          pitfalls: ["h", "i", "j"].map((x) => prose(200, k + x)),
          example: enumAt(p, ["properties", "example"])[0] ?? "none",
          sources: enumAt(p, ["properties", "sources", "items"]).slice(0, 5),
        }));
      case "validator":
        return byPattern((_p, k) => ({ verdict: "fail", problems: ["1", "2", "3"].map((x) => prose(160, k + x)) }));
      default:
        return JSON.stringify({ verdict: "different", reason: "scripted judgment" });
    }
  };
}

/** The rustup documentation's place in research, with excerpts of the corpus's own text (360 characters, as the real providers cut them). */
function docsProvider(): ResearchProvider {
  const texts = [...docs.values()].flatMap((d) => d.units.map((u) => u.text.replace(/\s+/g, " ").trim()));
  return {
    name: "docs",
    async search(q) {
      let h = 0;
      for (const c of q.name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
      return Array.from({ length: q.limit }, (_, i) => {
        const t = texts[(h + i * 7919) % texts.length] ?? "";
        const slug = q.name.toLowerCase().replace(/[^a-z]+/g, "_");
        return {
          provider: "docs",
          title: `The Rust Standard Library — ${q.name} (${i + 1})`,
          citation: `https://doc.rust-lang.org/std/${slug}/index.html#section-${i + 1}`,
          url: `https://doc.rust-lang.org/std/${slug}/index.html`,
          excerpt: t.length <= 360 ? t : `${t.slice(0, 359)}…`,
        };
      });
    },
  };
}

describe("every role's prompts for every corpus file fit the context: the last-resort cut never fires", () => {
  it.each(CONTEXTS)(
    "the whole pipeline on the synthetic SmolLM2-135M vocabulary at %i tokens, with the longest answers and research",
    { timeout: 900_000 },
    async (context) => {
      const tokenizer = tokenizers.get("synthetic SmolLM2-135M") as PromptTokenizer;
      const db = RunDatabase.open(path.join(dir, `runs-${context}.sqlite`));
      const chunks = new Map<string, number>();
      const backend = new TokenizerBackend(
        tokenizer,
        worstCase((f) => chunks.get(f) ?? 1),
        context,
      );
      const warnings: string[] = [];
      const services = createServices({
        db,
        backendFor: () => backend,
        events: (e) => {
          if (e.type === "message" && e.level === "warn") warnings.push(e.text);
        },
        research: [new InputSetProvider(db), docsProvider()],
        settings: { maxRepairRounds: 1 },
      });
      try {
        for (const [relPath, doc] of docs) chunks.set(relPath, extractorChunks(services.deps, relPath, doc).length);
        const graph = buildPipelineGraph(services.deps, { concurrency: 4, checkpointer: db.checkpointer() });
        await graph.invoke(
          { inputDir: CORPUS, outDir: path.join(dir, `kb-${context}`), exclude: [] },
          { configurable: { thread_id: "corpus" }, recursionLimit: 1000 },
        );
      } finally {
        services.close();
      }
      const unread = db.listUnread("corpus");
      db.close();
      const roles = new Set(backend.requests.map((r) => r.role));
      expect([...roles].sort()).toEqual(["extractor", "researcher", "validator", "writer"]);
      expect(new Set(backend.callsFor("extractor").map((r) => r.callKey?.split("|")[0])).size).toBe(48);
      // A repair round ran with the validator's feedback in the writer's prompt.
      expect(backend.callsFor("writer").some((r) => r.prompt.user.includes("was rejected. Fix these problems"))).toBe(true);
      expect(warnings.filter((w) => w.includes("was shortened"))).toEqual([]);
      expect(unread.filter((u) => u.why === "context-cut")).toEqual([]);
      // The extractor read every unit of every file, whole.
      expect(unread.filter((u) => u.role === "extractor")).toEqual([]);
      const over = backend.requests.filter((r) => sequenceTokens(tokenizer, r) > context).map((r) => r.callKey);
      expect(over).toEqual([]);
    },
  );
});

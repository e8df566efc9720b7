/**
 * The replay model's answers: a fixed recipe per file, so the pipeline's calls and tokens are a
 * property of its design rather than of a random-weight model's luck.
 *
 * - extractor: the patterns the shared labels say the file teaches (plus, with `patternsPerFile`,
 *   the file's headings as further patterns); evidence = the first section and first code block
 *   the request's grammar offers; summary = the first sentence of the file's first prose section.
 * - researcher: keeps the first source offered.
 * - writer: a draft built from the file's own sentences that passes the validator's checks; the
 *   example is the first code block offered, the sources the first one offered. With a failure
 *   share, a fixed subset of drafts fails validation once (a link research did not return).
 * - validator review: pass. synthesizer pair judgments: "same" when the two names are one label's
 *   name or alias (case, punctuation and the words "pattern"/"idiom"/"the" ignored), else "different".
 *
 * Answers are read off the request's grammar schema (enums of IDs) and the pattern names in the
 * prompt, so the recipe follows whatever prompt layout and batching the nodes use.
 */
import type { SourceDocument } from "../../src/input/types.ts";
import type { BackendRequest } from "../../src/llm/types.ts";

export interface LabelledFile {
  /** Path relative to the replay's input directory. */
  relPath: string;
  doc: SourceDocument;
  /** Pattern names the file teaches (labels first). */
  patterns: string[];
  /** Topics from the labels, used as the category where the taxonomy has one of that name. */
  topics: string[];
}

type Json = Record<string, unknown>;

/** The recipe, plus the failure rule: which (file, pattern) drafts fail validation once. */
export class ReplayRecipe {
  private readonly files: LabelledFile[];
  private readonly failing = new Set<string>();
  private readonly failed = new Set<string>();
  /** Whether the last answer given is one the validator accepts (false: a draft the failure rule spoiled). */
  private lastValid = true;

  constructor(files: LabelledFile[], failShare = 0) {
    this.files = files;
    // Every k-th draft of the run's ordered (file, pattern) list fails once: floor((i+1)*share) steps up.
    const all = files.flatMap((f) => f.patterns.map((p) => `${f.relPath}|${p}`));
    for (const [i, key] of all.entries()) if (Math.floor((i + 1) * failShare) > Math.floor(i * failShare)) this.failing.add(key);
  }

  /** Drafts the failure rule picks (for the report). */
  get failingDrafts(): number {
    return this.failing.size;
  }

  /** The file a request is about: its affinity key, else the path or a pattern name in the prompt. */
  fileOf(request: BackendRequest): LabelledFile | undefined {
    if (request.affinityKey) {
      const f = this.files.find((x) => x.relPath === request.affinityKey);
      if (f) return f;
    }
    const text = `${request.prompt.system}\n${request.prompt.user}`;
    return this.files.find((f) => text.includes(f.relPath)) ?? this.files.find((f) => f.patterns.some((p) => text.includes(p)));
  }

  /** The answer and whether the pipeline's checks accept it (a spoiled draft is not a valid answer). */
  answerOf(request: BackendRequest): { text: string; valid: boolean } {
    this.lastValid = true;
    const text = this.answer(request);
    return { text, valid: this.lastValid };
  }

  answer(request: BackendRequest): string {
    const file = this.fileOf(request);
    const schema = (request.grammarSchema ?? {}) as Json;
    switch (request.role) {
      case "extractor":
        return JSON.stringify(this.extract(file, schema, request.prompt.user));
      case "researcher":
        return JSON.stringify(mapItems(schema, (item) => ({ relevant: firstEnum(item, ["relevant", "[]"]).slice(0, 1), note: "" })));
      case "writer":
        return JSON.stringify(mapItems(schema, (item, key) => this.draft(file, item, patternNameFor(request, key, file), request.prompt.user)));
      case "validator":
        return JSON.stringify(mapItems(schema, () => ({ verdict: "pass", problems: [] })));
      case "synthesizer":
        return JSON.stringify(judgePair(request.prompt.user));
    }
  }

  private extract(file: LabelledFile | undefined, schema: Json, user: string): Json {
    const itemSchema = dig(schema, ["patterns", "[]"]) ?? {};
    const ids = firstEnum(itemSchema, ["evidence", "[]"]);
    const categories = firstEnum(itemSchema, ["category"]);
    const max = dig(schema, ["patterns"])?.maxItems;
    // Names the prompt's part of the file mentions first (a chunk of a long file is about its own lints).
    const all = file?.patterns ?? [];
    const lower = user.toLowerCase();
    const mentioned = all.filter((p) => lower.includes(p.toLowerCase()));
    const names = [...mentioned, ...all.filter((p) => !mentioned.includes(p))].slice(0, typeof max === "number" ? max : undefined);
    const evidence = [ids.find((id) => id.startsWith("S") || id.startsWith("R")), ids.find((id) => id.startsWith("C"))].filter(
      (x): x is string => x !== undefined,
    );
    const category = file?.topics.map((t) => categories.find((c) => c === t || c.startsWith(`${t}-`))).find((c) => c !== undefined) ?? "other";
    const summary = clip(sentences(file, user)[0] ?? "A Rust pattern described by this file.", 10, 280);
    return {
      patterns: names.map((name) => ({ name: clip(name, 3, 60), category, summary, evidence: evidence.length > 0 ? evidence : ids.slice(0, 1) })),
    };
  }

  private draft(file: LabelledFile | undefined, item: Json, pattern: string, user: string): Json {
    const said = sentences(file, user);
    const key = `${file?.relPath ?? "?"}|${pattern}`;
    const failNow = this.failing.has(key) && !this.failed.has(key);
    if (failNow) {
      this.failed.add(key);
      this.lastValid = false;
    }
    const summary = clip(said.slice(0, 3).join(" ") || `${pattern} is a Rust idiom this file explains with an example and its trade-offs.`, 30, 600);
    const codeIds = firstEnum(item, ["example"]);
    const sourceIds = firstEnum(item, ["sources", "[]"]);
    return {
      summary: failNow ? clip(`${summary} See https://example.invalid/replay for more.`, 30, 600) : summary,
      whenToUse: [clip(said[1] ?? `Use ${pattern} where the file's example applies.`, 10, 200)],
      whenNotToUse: [clip(`Avoid ${pattern} where the situation differs from the one the source describes.`, 10, 200)],
      pitfalls: [],
      example: codeIds.find((id) => id !== "none") ?? "none",
      sources: sourceIds.slice(0, 1),
    };
  }
}

/** The synthesizer's pair judgement: "same" when both entries' names normalise to one name. */
function judgePair(user: string): { verdict: "same" | "different"; reason: string } {
  const a = /^Entry A: (.*)$/m.exec(user)?.[1] ?? "";
  const b = /^Entry B: (.*)$/m.exec(user)?.[1] ?? "";
  const same = a !== "" && normalName(a) === normalName(b);
  return same
    ? { verdict: "same", reason: `Both entries name ${a.trim()}, one technique under the same name.` }
    : { verdict: "different", reason: `${a.trim() || "A"} and ${b.trim() || "B"} are distinct ideas with different names.` };
}

function normalName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .split(" ")
    .filter((w) => w !== "" && w !== "pattern" && w !== "idiom" && w !== "the")
    .join(" ");
}

/**
 * Structured calls may cover one item (the object itself) or several keyed items (a `byPattern`
 * object whose properties are per-pattern objects, `{"byPattern": {"p1": {...}, "p2": {...}}}`): answer each.
 */
function mapItems(schema: Json, fn: (item: Json, key: string | undefined) => Json): Json {
  const perKey = dig(schema, ["byPattern"])?.properties as Record<string, Json> | undefined;
  if (perKey) {
    const out: Json = {};
    for (const [k, v] of Object.entries(perKey)) out[k] = fn(v, k);
    return { byPattern: out };
  }
  return fn(schema, undefined);
}

/** The pattern a keyed item is about: the prompt lists items as `[p1] Name`; else the only pattern named. */
function patternNameFor(request: BackendRequest, key: string | undefined, file: LabelledFile | undefined): string {
  const text = request.prompt.user;
  if (key) {
    // Items are listed as "[p1] Name (Category)" (writer) or "[p1] Name: summary" / "[p1] Name (evidence: …)".
    const line = new RegExp(`^\\[${key}\\] (.+)$`, "m").exec(text)?.[1] ?? "";
    const named = file?.patterns.find((p) => line.startsWith(`${p} (`) || line.startsWith(`${p}:`));
    if (named) return named;
    const m = /^([^(:]+)/.exec(line);
    if (m?.[1]) return m[1].trim();
  }
  const named = file?.patterns.find((p) => text.includes(`Pattern: ${p}`) || text.includes(p));
  return named ?? file?.patterns[0] ?? "pattern";
}

/** The sub-schema at `path`: a name steps into `properties`, "[]" into an array's `items`. */
function dig(obj: unknown, path: readonly string[]): Json | undefined {
  let cur: unknown = obj;
  for (const p of path) {
    if (!cur || typeof cur !== "object") return undefined;
    const o = cur as Json;
    cur = p === "[]" ? o.items : (o.properties as Json | undefined)?.[p];
  }
  return cur && typeof cur === "object" ? (cur as Json) : undefined;
}

/** The enum at `path`, or []. */
function firstEnum(schema: Json, path: readonly string[]): string[] {
  const node = dig(schema, path);
  const values = node?.enum;
  return Array.isArray(values) ? values.filter((v): v is string => typeof v === "string") : [];
}

/**
 * The file's prose sentences, in order, without headings, inline code marks or links; those the
 * prompt shows first (a chunk of a long file is written from its own text).
 */
function sentences(file: LabelledFile | undefined, prompt = ""): string[] {
  if (!file) return [];
  const prose = file.doc.units
    .filter((u) => u.kind !== "code")
    .map((u) => u.text)
    .join("\n");
  const all = plain(prose)
    .split(/(?<=[.!?])\s+/)
    .map((s) => s.replace(/\s+/g, " ").trim())
    .filter((s) => s.split(" ").length >= 6 && s.length <= 200);
  const shown = plain(prompt).replace(/\s+/g, " ");
  return [...all.filter((s) => shown.includes(s)), ...all.filter((s) => !shown.includes(s))];
}

/** Text without fenced code, heading lines, link targets, URLs and markdown marks. */
function plain(text: string): string {
  return text
    .replace(/```[\s\S]*?```/g, " ")
    .replace(/^(#{1,6} .*|[=-]{3,}\s*)$/gm, " ")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/https?:\/\/\S+/g, "")
    .replace(/[`*_#>]/g, "");
}

function clip(s: string, min: number, max: number): string {
  let out = s.length > max ? `${s.slice(0, max - 1).trimEnd()}.` : s;
  while (out.length < min) out = `${out} (replay)`;
  return out;
}

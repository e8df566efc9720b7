import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import { codeProblems } from "../../nodes/validator.ts";
import type { SourceDocument } from "../../src/input/types.ts";
import type { Contribution } from "../../src/kb/types.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { InputSetProvider } from "../../src/research/InputSetProvider.ts";
import type { ResearchHitSource, ResearchProvider } from "../../src/research/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { countVerification, formatSummary, type RunSummary } from "../../src/run/summary.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { checkGrounding, type DraftLike } from "../../src/validate/grounding.ts";
import { RustChecker } from "../../src/validate/rustCheck.ts";
import { answerPerPattern, ScriptedBackend } from "../helpers/scriptedBackend.ts";

const hasRustc = spawnSync("rustc", ["--version"], { encoding: "utf8" }).status === 0;

// ---- grounding: drafts that misquote code, invent a link or an API, or cite a missing source ----

const doc: SourceDocument = {
  id: "doc1",
  relPath: "newtype.md",
  format: "markdown",
  title: "Newtype",
  lineCount: 8,
  notes: [],
  units: [
    { id: "S1", kind: "section", title: "Newtype", startLine: 1, endLine: 8, text: "Wrap a value in a tuple struct: `struct Meters(f64);` keeps units apart." },
    { id: "C1", kind: "code", title: "code", startLine: 5, endLine: 7, text: "struct Meters(f64);\nlet m = Meters(1.0);", lang: "rust", parent: "S1" },
  ],
};

const draft: DraftLike = {
  summary: "A newtype wraps an existing type in a tuple struct so the compiler keeps distinct meanings apart.",
  whenToUse: ["when two values share a representation but not a meaning"],
  whenNotToUse: ["when the wrapper adds no meaning and only boilerplate"],
  pitfalls: ["forgetting to implement the traits callers need"],
  example: "C1",
  sources: ["D1"],
};

const docsSource = {
  id: "D1",
  url: "https://doc.rust-lang.org/book/ch20-03-advanced-types.html#using-the-newtype-pattern",
  excerpt: "The newtype pattern is also useful for statically enforcing that values are never confused, e.g. Millimeters and Meters, via Vec::with_capacity.",
};

function contribution(d: DraftLike, code = "struct Meters(f64);\nlet m = Meters(1.0);"): Contribution {
  return {
    slug: "newtype",
    name: "Newtype",
    category: "type-safety",
    relPath: "newtype.md",
    docId: "doc1",
    patternKey: "p1",
    summary: d.summary,
    whenToUse: d.whenToUse,
    whenNotToUse: d.whenNotToUse,
    pitfalls: d.pitfalls,
    example: d.example === "none" ? null : { unitId: "C1", relPath: "newtype.md", startLine: 5, endLine: 7, lang: "rust", code },
    evidence: [{ unitId: "S1", title: "Newtype", startLine: 1, endLine: 8 }],
    research: [{ id: "D1", provider: "docs", title: "Advanced Types", citation: docsSource.url, url: docsSource.url }],
    crossRefs: { clippy: [], guidelines: [] },
  };
}

const ground = (d: DraftLike, code?: string) =>
  checkGrounding({ draft: d, doc, evidence: ["S1"], allowedSources: [docsSource], contribution: contribution(d, code), patternName: "Newtype" });

describe("grounding checks", () => {
  it("passes a draft whose claims all trace to the source or research", () => {
    expect(ground(draft)).toEqual([]);
  });

  it("rejects code that is not the source's code verbatim", () => {
    expect(ground(draft, "struct Meters(f32);")).toContain("example code does not match C1 in the source verbatim");
  });

  it("rejects an invented web link and an invented local doc link, but not the research's own", () => {
    const web = ground({ ...draft, pitfalls: ["see https://made.up/newtype for details on this"] });
    expect(web.join("\n")).toMatch(/pitfalls\[0\] contains a link that research did not return \(https:\/\/made\.up\/newtype\)/);
    const local = ground({ ...draft, pitfalls: ["read file:///home/x/invented.html for the details"] });
    expect(local.join("\n")).toMatch(/link that research did not return \(file:\/\/\/home\/x\/invented\.html\)/);
    expect(ground({ ...draft, pitfalls: [`the book covers this: ${docsSource.url}`] })).toEqual([]);
  });

  it("rejects a citation of a source research did not return", () => {
    expect(ground({ ...draft, sources: ["D1", "W3"] })).toContain("source W3 was not returned by research; cite only the listed source IDs");
  });

  it("rejects an API name that neither the source nor the research shows", () => {
    const problems = ground({ ...draft, pitfalls: ["call `Vec::with_capcity_exact` to preallocate the wrapper"] });
    expect(problems).toContain("pitfalls[0] names `Vec::with_capcity_exact`, which neither the source nor the research shows: name only APIs they show");
    // Paths whose parts the material shows are fine, and std:: needs no citation.
    expect(ground({ ...draft, pitfalls: ["store the values in a `std::vec::Vec` inside the wrapper type"] })).toEqual([]);
    expect(ground({ ...draft, pitfalls: ["prefer `Vec::with_capacity` when the size is known up front"] })).toEqual([]);
  });
});

describe("code verdict -> validation problem", () => {
  it("sends back a syntax error, labels everything else", () => {
    const base = { checker: "tree-sitter", wrapped: false };
    expect(codeProblems("C3", { ...base, status: "fails", parses: false, detail: "does not parse as Rust: line 2, column 9: unexpected `;`" })).toEqual([
      "example C3 does not parse as Rust: line 2, column 9: unexpected `;`; choose another listed code block that is valid Rust",
    ]);
    expect(codeProblems("C3", { ...base, status: "fails", parses: true, detail: "error[E0382]: borrow of moved value" })).toEqual([]);
    expect(codeProblems("C3", { ...base, status: "parses-only", parses: true, detail: "a fragment" })).toEqual([]);
    expect(codeProblems("C3", { ...base, status: "not-checkable", parses: true, detail: "needs the external crate `serde`" })).toEqual([]);
  });
});

describe("run summary", () => {
  it("counts verified, parse-only, failed, not checkable and quarantined", () => {
    const ex = (status?: "compiles" | "parses-only" | "fails" | "not-checkable") => ({
      example: {
        unitId: "C1",
        relPath: "a.md",
        startLine: 1,
        endLine: 2,
        lang: "rust",
        code: "x",
        ...(status ? { verification: { status, parses: true, detail: "", checker: "t", wrapped: false } } : {}),
      },
    });
    const counts = countVerification([ex("compiles"), ex("compiles"), ex("parses-only"), ex("fails"), ex("not-checkable"), ex(), { example: null }], 3);
    expect(counts).toEqual({ verified: 2, parseOnly: 1, failed: 1, notCheckable: 1, unchecked: 1, quarantined: 3 });
    const summary = {
      type: "summary",
      status: "done",
      runId: "r",
      files: { found: 1, processed: 1, skipped: 0, quarantined: 0, unchanged: 0, pending: 0 },
      skipped: [],
      quarantinedFiles: [],
      patterns: 5,
      llm: { calls: 1, tokens: 1, inputTokens: 1, reusedInputTokens: 0, memoHits: 0 },
      wallMs: 1,
      resume: null,
      out: "kb",
      verification: counts,
    } as RunSummary;
    expect(formatSummary(summary)).toContain("examples: 2 compile, 1 parse only, 1 fail to compile, 1 not checkable, 1 unchecked; 3 drafts quarantined");
  });
});

// ---- the pipeline with a scripted model: a non-Rust example goes back to the writer; the verdict reaches the page ----

let dir: string;
let db: RunDatabase;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-research-validation-"));
  fs.mkdirSync(path.join(dir, "in"));
  fs.writeFileSync(
    path.join(dir, "in", "newtype.md"),
    [
      "# Newtype",
      "",
      "Wrap a value in a tuple struct to give it a distinct type.",
      "",
      "```rust",
      "struct Meters(f64",
      "```",
      "",
      "```rust",
      "pub struct Meters(pub f64);",
      "",
      "pub fn total(a: Meters, b: Meters) -> Meters {",
      "    Meters(a.0 + b.0)",
      "}",
      "```",
      "",
    ].join("\n"),
  );
  db = RunDatabase.open(path.join(dir, "runs.sqlite"));
});

afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

class FakeDocs implements ResearchProvider {
  readonly name = "docs";
  async search(): Promise<ResearchHitSource[]> {
    return [
      { provider: "docs", title: "The Rust Programming Language: Advanced Types", citation: docsSource.url, url: docsSource.url, excerpt: docsSource.excerpt },
    ];
  }
}

async function runPipeline(checker: RustChecker) {
  const backend = new ScriptedBackend((req: BackendRequest) => {
    switch (req.role) {
      case "extractor":
        return JSON.stringify({ patterns: [{ name: "Newtype", category: "type-safety", summary: "Wrap a type in a tuple struct.", evidence: ["S1"] }] });
      case "researcher":
        return answerPerPattern(req, () => ({ relevant: ["D1"], note: "" }));
      case "writer":
        // First round picks the block that does not parse; after the feedback, the one that does.
        return answerPerPattern(req, () => ({ ...draft, example: req.prompt.user.includes("does not parse as Rust") ? "C2" : "C1" }));
      default:
        return answerPerPattern(req, () => ({ verdict: "pass", problems: [] }));
    }
  });
  const services = createServices({
    db,
    backendFor: () => backend,
    events: () => {},
    settings: { maxRepairRounds: 2 },
    research: [new InputSetProvider(db), new FakeDocs()],
    codeCheck: checker,
  });
  const graph = buildPipelineGraph(services.deps, { concurrency: 1, checkpointer: db.checkpointer() });
  const out = path.join(dir, "kb");
  const final = await graph.invoke({ inputDir: path.join(dir, "in"), outDir: out, exclude: [] }, { configurable: { thread_id: "t1" }, recursionLimit: 100 });
  const contributions = services.deps.kb(out).contributions();
  services.close();
  return { backend, final, out, contributions };
}

describe("validator with the Rust code check", () => {
  it("sends an example that does not parse back to the writer, then records the verdict on the published example", async () => {
    const { backend, final, out, contributions } = await runPipeline(new RustChecker({ rustc: false }));
    const writes = backend.callsFor("writer");
    expect(writes).toHaveLength(2);
    expect(writes[1]?.prompt.user).toMatch(/example C1 does not parse as Rust: line 1, column \d+/);
    expect(final.results[0]).toMatchObject({ status: "processed", quarantined: [] });
    expect(contributions[0]?.example?.unitId).toBe("C2");
    expect(contributions[0]?.example?.verification).toEqual({
      status: "not-checkable",
      parses: true,
      detail: "parses; compile check is off",
      checker: "tree-sitter",
      wrapped: false,
    });
    const page = fs.readFileSync(path.join(out, "patterns", "newtype.md"), "utf8");
    expect(page).toContain("Verification: not-checkable — parses; compile check is off.");
    // The local doc the writer cited by ID is on the page as a link to the exact anchor.
    expect(page).toContain(docsSource.url);
  });

  it.skipIf(!hasRustc)("shows a compiled example as compiles (needs rustc on PATH: skipped without it)", async () => {
    const { contributions, out } = await runPipeline(new RustChecker());
    expect(contributions[0]?.example?.verification?.status).toBe("compiles");
    expect(fs.readFileSync(path.join(out, "patterns", "newtype.md"), "utf8")).toMatch(/Verification: compiles — rustc \d+\.\d+\.\d+\S*\.\n/);
  });
});

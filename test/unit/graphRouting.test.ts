import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildPipelineGraph } from "../../graphs/pipelineGraph.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { createServices } from "../../src/run/createServices.ts";
import { RunDatabase } from "../../src/store/RunDatabase.ts";
import { answerPerPattern, ScriptedBackend } from "../helpers/scriptedBackend.ts";

let dir: string;
let db: RunDatabase;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-graph-"));
  fs.mkdirSync(path.join(dir, "in"));
  fs.writeFileSync(
    path.join(dir, "in", "newtype.md"),
    "# Newtype\n\nWrap a value in a tuple struct to give it a distinct type.\n\n```rust\nstruct Meters(f64);\n```\n",
  );
  fs.writeFileSync(path.join(dir, "in", "other.md"), "# Units\n\nA newtype around f64 stops you mixing meters and feet.\n");
  db = RunDatabase.open(path.join(dir, "runs.sqlite"));
});

afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const extractorAnswer = (req: BackendRequest) =>
  req.prompt.user.includes("File: newtype.md")
    ? { patterns: [{ name: "Newtype", category: "type-safety", summary: "Wrap a type in a tuple struct.", evidence: ["S1", "C1"] }] }
    : { patterns: [{ name: "Unit newtypes", category: "type-safety", summary: "Units as distinct types.", evidence: ["S1"] }] };

const goodDraft = {
  summary: "A newtype wraps an existing type in a tuple struct so the compiler keeps distinct meanings apart.",
  whenToUse: ["when two values share a representation but not a meaning"],
  whenNotToUse: ["when the wrapper adds no meaning and only boilerplate"],
  pitfalls: ["forgetting to implement the traits callers need"],
  example: "C1",
  sources: [],
};

/** The writer's call about newtype.md's pattern (the prompt lists it as "[p1] Newtype (…)"). */
const isNewtype = (req: BackendRequest) => req.prompt.user.startsWith("File: newtype.md") && req.prompt.user.includes("] Newtype (");

/** other.md has no code block, so its drafts can only say "none". */
const otherDraft = { ...goodDraft, example: "none" };

async function run(writer: (req: BackendRequest, round: number) => unknown, maxRepairRounds = 2) {
  const rounds = new Map<string, number>();
  const backend = new ScriptedBackend((req) => {
    switch (req.role) {
      case "extractor":
        return JSON.stringify(extractorAnswer(req));
      case "researcher":
        return answerPerPattern(req, () => ({ relevant: [], note: "" }));
      case "writer": {
        // The prompt starts with the file ("File: newtype.md"); each file here has one pattern.
        const key = req.prompt.user.split("\n", 1)[0] ?? "";
        const round = (rounds.get(key) ?? 0) + 1;
        rounds.set(key, round);
        return answerPerPattern(req, () => writer(req, round));
      }
      default:
        return answerPerPattern(req, () => ({ verdict: "pass", problems: [] }));
    }
  });
  const services = createServices({ db, backendFor: () => backend, events: () => {}, settings: { maxRepairRounds } });
  const graph = buildPipelineGraph(services.deps, { concurrency: 2, checkpointer: db.checkpointer() });
  const out = path.join(dir, "kb");
  const final = await graph.invoke({ inputDir: path.join(dir, "in"), outDir: out, exclude: [] }, { configurable: { thread_id: "t1" }, recursionLimit: 100 });
  services.close();
  return { backend, final, out };
}

describe("validator -> writer repair loop", () => {
  it("sends a draft with an invented link back with the problem, and publishes the repaired draft", async () => {
    const { backend, final, out } = await run((req, round) => {
      if (!isNewtype(req)) return otherDraft;
      return round === 1 ? { ...goodDraft, summary: `${goodDraft.summary} See https://invented.example.com/newtype for more.` } : goodDraft;
    });
    const writes = backend.callsFor("writer").filter((r) => isNewtype(r));
    expect(writes).toHaveLength(2);
    expect(writes[1]?.prompt.user).toContain("Your previous entry for [p1] was rejected");
    expect(writes[1]?.prompt.user).toContain("invented.example.com");
    const outcome = final.results.find((r) => r.relPath === "newtype.md");
    expect(outcome).toMatchObject({ status: "processed", published: ["newtype"], quarantined: [] });
    const page = fs.readFileSync(path.join(out, "patterns", "newtype.md"), "utf8");
    expect(page).toContain("```rust\nstruct Meters(f64);\n```");
    expect(page).not.toContain("invented.example.com");
  });

  it("quarantines a draft that still fails after the allowed rounds, with the reasons, and the run carries on", async () => {
    const { backend, final, out } = await run((req) => (isNewtype(req) ? { ...goodDraft, summary: "Wrapperization of typesystematicness." } : otherDraft), 2);
    const writes = backend.callsFor("writer").filter((r) => isNewtype(r));
    expect(writes).toHaveLength(3);
    const bad = final.results.find((r) => r.relPath === "newtype.md");
    expect(bad?.status).toBe("quarantined");
    expect(bad?.quarantined[0]?.problems.join(" ")).toMatch(/summary is too short/);
    expect(final.results.find((r) => r.relPath === "other.md")?.status).toBe("processed");
    expect(fs.readFileSync(path.join(out, "quarantine.md"), "utf8")).toMatch(/Newtype — \[`newtype.md`\]\([^)]*newtype\.md\)[\s\S]*summary is too short/);
    expect(fs.existsSync(path.join(out, "patterns", "newtype.md"))).toBe(false);
  });

  it("retries structured output that does not parse, then gives up with the problems", async () => {
    const { backend, final } = await run((req) => (isNewtype(req) ? "not json" : otherDraft), 0);
    // generateObject makes maxAttempts (3) tries for the one writer round.
    expect(backend.callsFor("writer").filter((r) => isNewtype(r))).toHaveLength(3);
    expect(final.results.find((r) => r.relPath === "newtype.md")?.quarantined[0]?.problems[0]).toMatch(/writer produced no valid entry/);
  });
});

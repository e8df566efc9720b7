/**
 * A knowledge base the pipeline writes, for tests of what reads it (the MCP server) and of runs that
 * repeat (watch mode): notes on disk, and a scripted model whose every answer passes validation.
 * The extractor names one pattern per file, its first heading; the writer cites the file's first
 * code block as the example when it has one.
 */
import fs from "node:fs";
import path from "node:path";
import type { BackendRequest } from "../../src/llm/types.ts";
import { runPipeline } from "../../src/run/runPipeline.ts";
import type { RunSummary } from "../../src/run/summary.ts";
import type { PipelineOptions } from "../../src/run/types.ts";
import { answerPerPattern, ScriptedBackend } from "./scriptedBackend.ts";

/** Notes of several categories, with Clippy lints and API Guidelines IDs the cross-references pick up. */
export const NOTES: Record<string, string> = {
  "newtype.md": "# Newtype\n\nWrap a value in a tuple struct to give it a distinct type (C-NEWTYPE).\n\n```rust\nstruct Meters(f64);\n```\n",
  "builder.md": "# Builder\n\nBuild a value step by step, then call build (see C-BUILDER).\n\n```rust\nlet s = Server::builder().port(8080).build();\n```\n",
  "errors/unwrap.md":
    "# Avoid unwrap on Result\n\nCalling unwrap panics on an error; clippy::unwrap_used flags it. Propagate the error with the ? operator.\n\n```rust\nlet n: u32 = text.parse()?;\n```\n",
  "errors/custom-error.md": "# Custom error types\n\nDefine an error enum and implement Display and Error for it, so callers can match on the cause.\n",
  "borrow/mem-take.md":
    "# mem::take\n\nUse std::mem::take to move a value out of a mutable reference and leave its default behind.\n\n```rust\nlet old = std::mem::take(&mut self.name);\n```\n",
};

const CATEGORY: Record<string, string> = {
  "newtype.md": "type-safety",
  "builder.md": "design-patterns",
  "errors/unwrap.md": "error-handling",
  "errors/custom-error.md": "error-handling",
  "borrow/mem-take.md": "ownership-borrowing",
};

export function writeNotes(dir: string, notes: Record<string, string> = NOTES): void {
  for (const [rel, text] of Object.entries(notes)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
}

/** The file a request is about (every per-file call carries it as its affinity key). */
function fileOf(req: BackendRequest): string {
  return req.affinityKey ?? /^File: (.+)$/m.exec(req.prompt.user)?.[1] ?? "";
}

/** A scripted model that turns each note into one validated entry named after its first heading. */
export function notesModel(options: { delayMs?: number; modelId?: string } = {}): ScriptedBackend {
  return new ScriptedBackend(
    (req) => {
      switch (req.role) {
        case "extractor": {
          const heading = /^# (.+)$/m.exec(req.prompt.user)?.[1]?.trim() ?? "Untitled pattern";
          const evidence = /\bC1\b/.test(req.prompt.user) ? ["S1", "C1"] : ["S1"];
          const category = CATEGORY[fileOf(req)] ?? "other";
          return JSON.stringify({ patterns: [{ name: heading, category, summary: `What ${heading} is for.`, evidence }] });
        }
        case "researcher":
          return answerPerPattern(req, () => ({ relevant: [], note: "" }));
        case "writer": {
          const code = /Code blocks for the example: [^\n]*C1/.test(req.prompt.user);
          return answerPerPattern(req, () => ({
            summary: "This pattern keeps the program's intent visible in its types and calls, so mistakes show up at compile time.",
            whenToUse: ["when the source's situation applies to your code"],
            whenNotToUse: ["when a plain function says the same with less code"],
            pitfalls: ["applying it where the types do not differ in meaning"],
            example: code ? "C1" : "none",
            sources: [],
          }));
        }
        case "validator":
          return answerPerPattern(req, () => ({ verdict: "pass", problems: [] }));
        case "synthesizer":
          return JSON.stringify({ verdict: "different", reason: "scripted" });
      }
      throw new Error(`unexpected role ${req.role}`);
    },
    { modelId: options.modelId ?? "scripted-notes@1", ...(options.delayMs ? { delayMs: options.delayMs } : {}) },
  );
}

/** Pipeline options for a run over `<dir>/notes` into `<dir>/kb` that needs nothing outside the test (no docs index, no rustc). */
export function notesRunOptions(dir: string): PipelineOptions & { input: string; out: string; db: string } {
  return { input: path.join(dir, "notes"), out: path.join(dir, "kb"), db: path.join(dir, "runs.sqlite"), research: ["input"], rustc: false, concurrency: 2 };
}

/** Writes NOTES into `<dir>/notes` and builds `<dir>/kb` from them with runPipeline and the scripted model. */
export async function writeNotesKb(dir: string): Promise<{ out: string; input: string; summary: RunSummary }> {
  const options = notesRunOptions(dir);
  writeNotes(options.input);
  const model = notesModel();
  const summary = await runPipeline(options, { models: { backendFor: () => model, concurrency: 2 } });
  if (summary.status !== "done") throw new Error(`the test KB was not written: ${JSON.stringify(summary.error)}`);
  return { out: options.out, input: options.input, summary };
}

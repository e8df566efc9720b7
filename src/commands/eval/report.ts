/** The evaluation report: markdown, deterministic (no timestamps), so two reports of one KB diff cleanly. */
import type { EvalScores } from "./score.ts";

export interface ReportContext {
  runId: string;
  /** Model identity as the run recorded it (file name and size, e.g. "model.gguf@1750784"). */
  modelId: string;
  input: string;
  labelsFile: string;
  /** Whether this invocation ran the pipeline or reused a finished run's knowledge base. */
  reused: boolean;
}

/** The tiny GGUFs in ../shared/models: they exercise the pipeline and write gibberish. */
const TINY_MODEL = /stories260k|tiny-random/i;
/** Below this size no GGUF is a model that can write a knowledge base. */
const TINY_BYTES = 50 * 1024 * 1024;

export function isTinyTestModel(modelId: string): boolean {
  const [name = "", size] = modelId.split("@");
  if (TINY_MODEL.test(name)) return true;
  const bytes = Number.parseInt(size ?? "", 10);
  return Number.isFinite(bytes) && bytes > 0 && bytes < TINY_BYTES;
}

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function cell(text: string): string {
  // Model-written names may hold stray backticks or pipes: neither may break the table.
  return text.replace(/`/g, "").replace(/\|/g, "\\|").replace(/\s+/g, " ").trim();
}

export function renderEvalReport(scores: EvalScores, ctx: ReportContext): string {
  const out: string[] = ["# Knowledge-base evaluation", ""];
  if (isTinyTestModel(ctx.modelId))
    out.push(
      `> **These scores are meaningless.** The knowledge base was written by \`${ctx.modelId}\`, one of the tiny test models, which produce gibberish: this run checks that the pipeline and the harness work, not how good the knowledge base is. Run the evaluation with a real model (for example the default Qwen2.5-0.5B-Instruct, or \`--model PATH\`) to get a number that means something.`,
      "",
    );
  out.push("| | |", "|---|---|");
  out.push(`| Run | \`${ctx.runId}\` (${ctx.reused ? "reused: a finished run over the same input" : "run by this evaluation"}) |`);
  out.push(`| Model | \`${ctx.modelId}\` |`);
  out.push(`| Input | \`${ctx.input}\`: ${scores.inputFiles} files, ${scores.labelledFiles} labelled |`);
  out.push(`| Labels | \`${ctx.labelsFile}\` |`, "");

  out.push("## Scores", "", "| Measure | Value |", "|---|---|");
  out.push(`| Recall, strict (ID, name or alias) | ${scores.recalled}/${scores.labels} (${percent(scores.recall)}) |`);
  out.push(`| Recall, loose (also shared words) | ${scores.looselyRecalled}/${scores.labels} (${percent(scores.looseRecall)}) |`);
  out.push(`| Entries | ${scores.entries} |`);
  out.push(
    `| Entries matching no label | ${scores.unlabelled.length}${scores.entries > 0 ? ` (${percent(scores.unlabelled.length / scores.entries)})` : ""} |`,
  );
  out.push(`| Labels matched by more than one entry (duplicates left) | ${scores.duplicateLabels.length} (${scores.duplicateEntries} extra entries) |`);
  out.push(`| Entries sharing a normalised name | ${scores.sameNameGroups.reduce((n, g) => n + g.length, 0)} |`, "");

  const v = scores.verification;
  out.push(
    "## Verification mix",
    "",
    `${v.sources} drafts in ${scores.entries} entries; ${v.entriesWithExample} entries have a code example; ${v.quarantinedDrafts} drafts quarantined.`,
    "",
  );
  const table = (head: string, rows: Record<string, number>) => {
    if (Object.keys(rows).length === 0) return;
    out.push(`| ${head} | Drafts |`, "|---|---:|");
    for (const [k, n] of Object.entries(rows)) out.push(`| ${cell(k)} | ${n} |`);
    out.push("");
  };
  table("Validation", v.review);
  table("Example", v.examples);

  out.push("## Labels", "", "| File | Label | Matched by | Entries |", "|---|---|---|---|");
  for (const l of scores.perLabel) {
    const entries = [...l.entries, ...l.looseEntries.map((s) => `${s} (loose)`)];
    out.push(`| \`${cell(l.file)}\` | ${cell(l.id === l.name ? l.name : `${l.id}: ${l.name}`)} | ${l.matchedBy ?? "—"} | ${cell(entries.join(", ")) || "—"} |`);
  }
  out.push("");

  out.push("## Entries matching no label", "");
  if (scores.unlabelled.length === 0) out.push("None.");
  for (const u of scores.unlabelled) out.push(`- \`${u.slug}\` ${cell(u.name)} (from ${u.sources.map((s) => `\`${s}\``).join(", ")})`);
  out.push("");
  if (scores.duplicateLabels.length > 0) {
    out.push("## Duplicates left", "");
    for (const d of scores.duplicateLabels) out.push(`- \`${d.file}\` ${cell(d.id)}: ${d.entries.map((s) => `\`${s}\``).join(", ")}`);
    out.push("");
  }
  out.push(
    "## How entries are matched to labels",
    "",
    "A label counts as recalled when an entry that cites the label's file matches it by ID (the label's ID is one of the entry's Clippy lints or API Guidelines IDs, or names the entry through the alias table), by name (the label's name normalises to one of the entry's names or aliases), or by alias (the alias table maps both names to one pattern). Loose recall also counts entries whose names share most words with the label (similarity >= 0.5). Details: docs/KNOWLEDGE-BASE.md.",
    "",
  );
  return out.join("\n");
}

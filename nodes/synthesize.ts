import { createHash } from "node:crypto";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { KnowledgeBase } from "../src/kb/KnowledgeBase.ts";
import { pendingPairs } from "../src/kb/matchDrafts.ts";
import { keptMessage, publishKnowledgeBase } from "../src/kb/publish/publishKnowledgeBase.ts";
import type { MatchDraft } from "../src/kb/resolve.ts";
import type { PendingPair } from "../src/kb/store/JudgmentStore.ts";
import { categoryTitle } from "../src/kb/taxonomy.ts";
import type { PromptLibrary } from "../src/prompts/PromptLibrary.ts";
import { type NodeDeps, runContext } from "./deps.ts";
import { synthesizerSchema } from "./schemas.ts";
import type { PipelineStateType } from "./state.ts";

const PROMPTS = ["synthesizer.system", "synthesizer.user"] as const;

/**
 * Who judges candidate pairs: the synthesizer's model and the text of its prompts. Judgments are
 * cached in the knowledge base under this identity, so a re-run with the same model and prompts
 * does not ask again, and a different model or prompt asks afresh.
 */
function judgeIdentity(deps: Pick<NodeDeps, "prompts" | "modelIdFor">): string {
  const model = deps.modelIdFor?.("synthesizer") ?? "unknown-model";
  return `${model}|${promptFingerprint(deps.prompts)}`;
}

/** Hash of the templates themselves (each placeholder rendered as itself). */
function promptFingerprint(prompts: PromptLibrary): string {
  const h = createHash("sha256");
  for (const name of PROMPTS) h.update(prompts.render(name, Object.fromEntries(prompts.placeholders(name).map((p) => [p, `{{${p}}}`])))).update("\u0000");
  return h.digest("hex").slice(0, 16);
}

/**
 * Asks the synthesizer model about every candidate pair not judged before (bounded by
 * settings.maxMergePairs, cached in the knowledge base). An unusable answer is cached as
 * "different", so a re-run does not ask again either.
 */
async function judgePendingPairs(
  deps: Pick<NodeDeps, "llm" | "prompts" | "settings" | "modelIdFor">,
  kb: KnowledgeBase,
  runId: string,
  signal: AbortSignal | undefined,
): Promise<{ asked: number; judge: string }> {
  const judge = judgeIdentity(deps);
  const pending = pendingPairs(kb, judge, deps.settings.maxMergePairs);
  const show = (d: MatchDraft) => ({ name: d.name, category: categoryTitle(d.category), summary: d.summary });
  await Promise.all(
    pending.map(async (p: PendingPair) => {
      const a = show(p.pair.a);
      const b = show(p.pair.b);
      const result = await deps.llm.generateObject(synthesizerSchema, {
        runId,
        role: "synthesizer",
        callKey: `synthesizer|pair|${p.key}`,
        prompt: {
          system: deps.prompts.render("synthesizer.system", {}),
          user: deps.prompts.render("synthesizer.user", {
            nameA: a.name,
            categoryA: a.category,
            summaryA: a.summary,
            nameB: b.name,
            categoryB: b.category,
            summaryB: b.summary,
          }),
        },
        maxTokens: deps.settings.synthesizerMaxTokens,
        maxAttempts: deps.settings.maxAttempts,
        signal,
      });
      kb.putJudgment(
        judge,
        p,
        result.ok
          ? { same: result.value.verdict === "same", reason: result.value.reason.trim() }
          : { same: false, reason: `no usable answer from the model (${result.problems[0] ?? "unknown"})` },
      );
    }),
  );
  return { asked: pending.length, judge };
}

/**
 * synthesize (the synthesizer role's step, once for the whole run): drops what came only from files no longer
 * in the input, has the synthesizer model judge the candidate pairs of entries that names and
 * aliases did not settle, then matches every draft into entries and writes index.md, the category
 * and entry pages, kb.json with its schema and quarantine.md. It runs once, after every file, so
 * the pages are the same whatever order files finished in.
 */
export function makeSynthesize(
  deps: Pick<NodeDeps, "kb" | "llm" | "prompts" | "settings" | "modelIdFor"> & Partial<Pick<NodeDeps, "ledger" | "events" | "writeFs">>,
) {
  return async (
    state: Pick<PipelineStateType, "inputDir" | "outDir" | "files"> & Partial<PipelineStateType>,
    config: LangGraphRunnableConfig,
  ): Promise<Partial<PipelineStateType>> => {
    const { runId, signal } = runContext(config);
    const kb = deps.kb(state.outDir);
    // Files processed now and files the ledger found unchanged stay; everything else (deleted, or now skipped) goes.
    const current = [...state.files, ...(state.unchanged ?? [])];
    const keep = new Set(current.map((f) => f.relPath));
    const refusal = pruneRefusal(kb.sourceFiles(), keep, state.prune === true);
    if (refusal) deps.events?.({ type: "message", level: "warn", text: refusal });
    else {
      kb.removeFilesNotIn(keep);
      deps.ledger?.(state.outDir).removeNotIn(keep);
    }
    const { judge } = await judgePendingPairs(deps, kb, runId, signal);
    const result = publishKnowledgeBase(kb, {
      judge,
      maxPairs: deps.settings.maxMergePairs,
      run: { runId, inputDir: state.inputDir, files: current },
      ...(deps.writeFs ? { writeFs: deps.writeFs } : {}),
    });
    if (result.kept.length > 0) deps.events?.({ type: "message", level: "warn", text: keptMessage(result.kept) });
    return { kb: { entries: result.entries, quarantined: result.quarantined } };
  };
}

/**
 * Why the entries of missing files are kept this time, or undefined to prune them. An input that
 * has none, or under half, of the files the knowledge base came from looks the same as an
 * unmounted disk or a wrong --input: nothing is dropped without `--prune`.
 */
export function pruneRefusal(known: readonly string[], current: ReadonlySet<string>, prune: boolean): string | undefined {
  const missing = known.filter((p) => !current.has(p));
  if (prune || missing.length === 0 || missing.length * 2 <= known.length) return undefined;
  const have = known.length - missing.length;
  return `The input has ${have === 0 ? "none" : `only ${have}`} of the ${known.length} files the knowledge base was built from (missing: ${missing
    .slice(0, 3)
    .join(
      ", ",
    )}${missing.length > 3 ? ", …" : ""}); their entries were kept. If --input is right and the files were removed on purpose, run again with --prune.`;
}

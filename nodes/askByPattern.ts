import type { z } from "zod";
import type { NodeDeps } from "./deps.ts";
import { byPatternSchema } from "./schemas.ts";
import { batchesThatFit, type StagePrompt, type StagePromptInput } from "./stagePrompt.ts";
import type { PatternItem } from "./types.ts";

/**
 * One stage's question about several patterns of a file, asked batch by batch (as many patterns per
 * call as fit the context): each call's answer is an object keyed by pattern, and every valid answer
 * is kept. A batch whose answer never validates is left out (its patterns get no answer).
 */
export async function askByPattern<T extends { pattern: PatternItem }, S extends z.ZodType>(
  deps: Pick<NodeDeps, "llm" | "settings">,
  ask: {
    stage: Pick<StagePromptInput, "role" | "relPath" | "system">;
    items: readonly T[];
    prompt: (batch: readonly T[]) => StagePrompt;
    /** The schema of one pattern's answer. */
    answerSchema: (item: T) => S;
    /** The call's key within the file's (identifies the call across a resume). */
    callSuffix: string;
    maxTokens: (batch: readonly T[]) => number;
    runId: string;
    priority: number;
    signal: AbortSignal | undefined;
  },
): Promise<Map<string, z.infer<S>>> {
  const out = new Map<string, z.infer<S>>();
  const { stage } = ask;
  for (const batch of batchesThatFit(ask.items, (items) => ask.prompt(items).form)) {
    const { user, source } = ask.prompt(batch);
    const schema = byPatternSchema(Object.fromEntries(batch.map((x) => [x.pattern.key, ask.answerSchema(x)])));
    const result = await deps.llm.generateObject(schema, {
      runId: ask.runId,
      role: stage.role,
      callKey: `${stage.relPath}|${stage.role}|${batch.map((x) => x.pattern.key).join(",")}${ask.callSuffix}`,
      affinityKey: stage.relPath,
      priority: ask.priority,
      prompt: { system: stage.system, user },
      source,
      maxTokens: ask.maxTokens(batch),
      maxAttempts: deps.settings.maxAttempts,
      signal: ask.signal,
    });
    if (!result.ok) continue;
    for (const [key, v] of Object.entries(result.value.byPattern)) out.set(key, v as z.infer<S>);
  }
  return out;
}

/**
 * The crash-test harness in its short CI form: three cycles of two kills each, so every kill point
 * comes once (model load twice) and every cycle kills a fresh run and then its resumed run. The long
 * form (`npx tsx scripts/crashTest.ts`, 10 cycles by default) hits every point several times.
 */
import { expect, it } from "vitest";
import { KILL_POINTS, runCrashHarness } from "../../scripts/crashHarness.ts";
import { REPO } from "../helpers/cli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

it("SIGKILL at model load, mid-generation, mid-checkpoint write, during synthesis and at random: every cycle resumes to the uninterrupted knowledge base with no finished call repeated and no torn page", async () => {
  const result = await runCrashHarness({
    repo: REPO,
    model: sharedModel("llama-2-tiny-random-chatml.gguf"),
    files: ["concat-format.md", "temporary-mutability.txt", "pass-var-to-closure.md"].map((f) => sharedCorpus("rust-research", "rust-patterns", "idioms", f)),
    // Cycles: [model-load, mid-generation], [checkpoint-write, synthesis], [model-load, random].
    points: ["model-load", "mid-generation", "checkpoint-write", "synthesis", "model-load", "random"],
    cycles: 3,
    killsPerCycle: 2,
    seed: 7,
  });
  for (const c of result.cycles) {
    expect(c.error, `cycle ${c.cycle}`).toBeUndefined();
    expect(c.tornPages, `cycle ${c.cycle}`).toEqual([]);
    expect(c.identical && c.callsOk, `cycle ${c.cycle}`).toBe(true);
  }
  // Every kill point that waits for its event was really reached and killed (not merely scheduled);
  // a random moment can fall after the run's end, so of the six kills one may come too late.
  const kills = result.cycles.flatMap((c) => c.kills);
  for (const point of KILL_POINTS.filter((p) => p !== "random"))
    expect(
      kills.some((k) => k.point === point && k.killed),
      `a kill at ${point}`,
    ).toBe(true);
  expect(kills.filter((k) => k.killed).length).toBeGreaterThanOrEqual(KILL_POINTS.length);
}, 900_000);

/** The crash-test harness in its short CI form: one cycle per kill point, two kills each. */
import { expect, it } from "vitest";
import { KILL_POINTS, runCrashHarness } from "../../scripts/crashHarness.ts";
import { REPO } from "../helpers/cli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

it("SIGKILL at model load, mid-generation, mid-checkpoint write, during synthesis and at random: every cycle resumes to the uninterrupted knowledge base with no finished call repeated and no torn page", async () => {
  const result = await runCrashHarness({
    repo: REPO,
    model: sharedModel("llama-2-tiny-random-chatml.gguf"),
    files: ["concat-format.md", "temporary-mutability.txt", "pass-var-to-closure.md"].map((f) => sharedCorpus("rust-research", "rust-patterns", "idioms", f)),
    cycles: KILL_POINTS.length,
    killsPerCycle: 2,
    seed: 7,
  });
  for (const c of result.cycles) {
    expect(c.error, `cycle ${c.cycle}`).toBeUndefined();
    expect(c.tornPages, `cycle ${c.cycle}`).toEqual([]);
    expect(c.identical && c.callsOk, `cycle ${c.cycle}`).toBe(true);
  }
  expect(result.cycles.flatMap((c) => c.kills).filter((k) => k.killed).length).toBeGreaterThanOrEqual(KILL_POINTS.length);
}, 900_000);

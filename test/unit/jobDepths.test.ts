import { describe, expect, it } from "vitest";
import { jobDepths } from "../../bench/job/engineJob.ts";

describe("jobDepths (the job bench's depth-aware lower bound)", () => {
  it("weights prompt evaluation by evaluated tokens and generation by generated tokens", () => {
    const d = jobDepths([
      // 1000 evaluated after a 1000-token cached prefix: mean depth 1500; 100 generated after 2000: mean 2050
      { promptTokens: 2000, reusedPromptTokens: 1000, generatedTokens: 100 },
      // 100 evaluated from empty: mean depth 50; nothing generated
      { promptTokens: 100, reusedPromptTokens: 0, generatedTokens: 0 },
    ]);
    expect(d.pp).toBe(Math.round((1000 * 1500 + 100 * 50) / 1100));
    expect(d.tg).toBe(2050);
  });

  it("is 0 for a job without tokens", () => {
    expect(jobDepths([])).toEqual({ pp: 0, tg: 0 });
  });
});

import { describe, expect, it } from "vitest";
import { routeAfterExtractor, routeAfterValidator } from "../../nodes/routers.ts";
import type { PatternItem, Verdict } from "../../nodes/types.ts";
import { patternsToWrite } from "../../nodes/writer.ts";

const p = (key: string): PatternItem => ({ key, name: key, slug: key, category: "other", summary: "s", evidence: ["S1"] });
const v = (ok: boolean, round: number): Verdict => ({ ok, problems: ok ? [] : ["x"], round });

describe("routeAfterExtractor", () => {
  it("skips research and writing when nothing was found", () => {
    expect(routeAfterExtractor({ patterns: [] })).toBe("recordFile");
    expect(routeAfterExtractor({ patterns: [p("p1")] })).toBe("researcher");
  });
});

describe("routeAfterValidator", () => {
  it("publishes when every draft passed", () => {
    expect(routeAfterValidator({ patterns: [p("p1"), p("p2")], verdicts: { p1: v(true, 1), p2: v(true, 1) }, round: 1 }, 2)).toBe("recordFile");
  });
  it("sends failures back while repair rounds remain", () => {
    const state = { patterns: [p("p1"), p("p2")], verdicts: { p1: v(true, 1), p2: v(false, 1) }, round: 1 };
    expect(routeAfterValidator(state, 2)).toBe("writer");
    expect(routeAfterValidator({ ...state, round: 2 }, 2)).toBe("writer");
    expect(routeAfterValidator({ ...state, round: 3 }, 2)).toBe("recordFile");
  });
  it("never repairs when the limit is 0", () => {
    expect(routeAfterValidator({ patterns: [p("p1")], verdicts: { p1: v(false, 1) }, round: 1 }, 0)).toBe("recordFile");
  });
});

describe("patternsToWrite", () => {
  it("writes everything first, then only what failed", () => {
    const patterns = [p("p1"), p("p2")];
    expect(patternsToWrite({ patterns, verdicts: {}, round: 0 }).map((x) => x.key)).toEqual(["p1", "p2"]);
    expect(patternsToWrite({ patterns, verdicts: { p1: v(true, 1), p2: v(false, 1) }, round: 1 }).map((x) => x.key)).toEqual(["p2"]);
  });
});

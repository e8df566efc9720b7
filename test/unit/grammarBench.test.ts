import { describe, expect, it } from "vitest";
import { benchSchema, countsFromTimings, derivedPerRejection, parseGrammarBenchArgs } from "../../bench/grammarBench.ts";
import { summarize } from "../../bench/stats.ts";

describe("grammar benchmark bookkeeping", () => {
  it("reads the patched server's counters from timings, zeros from an unpatched one", () => {
    expect(
      countsFromTimings({
        predicted_n: 64,
        grammar_n_checked: 64,
        grammar_n_rejected: 42,
        grammar_n_cand_hit: 1,
        grammar_n_full_mask: 41,
        grammar_reject_ms: 80.5,
        grammar_mask_ms: 79,
      }),
    ).toEqual({ checked: 64, rejected: 42, candHit: 1, fullMask: 41, rejectMs: 80.5, maskMs: 79 });
    expect(countsFromTimings({ predicted_n: 64 })).toEqual({ checked: 0, rejected: 0, candHit: 0, fullMask: 0, rejectMs: 0, maskMs: 0 });
  });

  it("derives the in-process cost per rejection from the extra time per token and the server's rejection rate", () => {
    const point = (rate: number, counts = { checked: 0, rejected: 0, candHit: 0, fullMask: 0, rejectMs: 0, maskMs: 0 }) => ({
      rate: summarize([rate]),
      counts,
      tokensPerSeq: 64,
    });
    const server = {
      sequences: 16,
      schema: "extractor" as const,
      engine: "llama-server",
      free: point(100),
      grammar: [
        { variant: "mask on rejection (llama.cpp)", point: point(50, { checked: 100, rejected: 50, candHit: 0, fullMask: 50, rejectMs: 500, maskMs: 500 }) },
      ],
    };
    const ours = {
      sequences: 16,
      schema: "extractor" as const,
      engine: "ours, node-llama-cpp in process",
      free: point(100),
      grammar: [{ variant: "x", point: point(50) }],
    };
    // 1000/50 - 1000/100 = 10 ms more per token; half the tokens rejected -> 20 ms per rejection.
    expect(derivedPerRejection([server, ours], ours, point(50))).toBeCloseTo(20, 6);
    expect(derivedPerRejection([ours], ours, point(50))).toBeUndefined();
  });

  it("parses the options and knows its schemas", () => {
    const o = parseGrammarBenchArgs(["--grammar", "--model", "m.gguf", "--sequences", "1,16,30", "--candidates", "0,64", "--schemas", "extractor,ids"]);
    expect(o).toMatchObject({ models: ["m.gguf"], shapes: [], sequences: [1, 16, 30], candidates: [0, 64], schemas: ["extractor", "ids"], temperature: 0 });
    expect(() => parseGrammarBenchArgs(["--schemas", "nope"])).toThrow(/unknown schema/);
    expect(JSON.stringify(benchSchema("extractor"))).toContain('"enum"');
    expect(JSON.stringify(benchSchema("loose"))).not.toContain("maxLength");
  });
});

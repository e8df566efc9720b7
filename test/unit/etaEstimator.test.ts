import { describe, expect, it } from "vitest";
import { EtaEstimator, fitLine } from "../../src/progress/EtaEstimator.ts";
import type { SimCall } from "../helpers/simulatedRun.ts";
import { simulateRun } from "../helpers/simulatedRun.ts";

/** The sizes of the first 30 files of ../shared/corpus/rust-research (bytes), in an order that mixes small and large as paths do. */
const CORPUS = [
  933, 1297, 1662, 1994, 2283, 2710, 2730, 2820, 2859, 3264, 3440, 3567, 3602, 3967, 4214, 4239, 4562, 4768, 7623, 8886, 8890, 10140, 13372, 15261, 16181,
  17831, 18986, 20462, 22719, 28673,
];
const PATH_ORDER = [...CORPUS].sort((a, b) => ((a * 7919) % 31) - ((b * 7919) % 31));

/**
 * A file's calls as this pipeline makes them: the extractor in chunks of ~6 KB, then one call per
 * stage; prompts grow with the file, answers with its patterns (at most 6); every third file takes a
 * repair round (writer and validator again).
 */
function pipelineCalls(size: number, index: number): { node: string; calls: SimCall[] }[] {
  const patterns = Math.min(6, 1 + Math.floor(size / 2500));
  const chunks = Math.ceil(size / 6000);
  const stages: { node: string; calls: SimCall[] }[] = [
    {
      node: "extractor",
      calls: Array.from({ length: chunks }, () => ({ role: "extractor", read: 700 + (0.3 * size) / chunks, generated: 120 + (0.04 * size) / chunks })),
    },
    { node: "researcher", calls: [{ role: "researcher", read: 500 + 0.1 * size, generated: 60 + patterns * 20 }] },
    { node: "writer", calls: [{ role: "writer", read: 800 + 0.15 * size, generated: patterns * 110 }] },
    { node: "validator", calls: [{ role: "validator", read: 600 + 0.05 * size, generated: patterns * 30 }] },
  ];
  if (index % 3 === 0)
    stages.push(
      { node: "writer", calls: [{ role: "writer", read: 900, generated: patterns * 110 }] },
      { node: "validator", calls: [{ role: "validator", read: 600, generated: patterns * 30 }] },
    );
  return stages;
}

function run(inFlight: number, readRate: number, genRate: number, sizes = PATH_ORDER) {
  const eta = new EtaEstimator();
  const ticks: { now: number; fraction: number; eta: number | undefined }[] = [];
  const finishes: number[] = [];
  const result = simulateRun(
    { sizes, inFlight, readRate, genRate, callsOf: pipelineCalls },
    (e, now) => {
      eta.handle(e, now);
      if (e.type === "file_finished") finishes.push(now);
    },
    (t) => ticks.push({ ...t, eta: eta.remainingMs(t.now) }),
  );
  return { ...result, ticks, finishes };
}

describe("ETA from measured work", () => {
  for (const [inFlight, readRate, genRate, what] of [
    [8, 300, 30, "a CPU engine (reads 10x faster than it generates)"],
    [8, 700, 350, "a batched engine (reads 2x faster)"],
    [4, 2000, 20, "a generation-bound engine (reads 100x faster)"],
  ] as const) {
    it(`files that finish late, work that progresses steadily: right within 30% once a tenth of the work is done (${inFlight} files in flight, ${what})`, () => {
      const r = run(inFlight, readRate, genRate);
      // Files finish late: when the first one is done, elapsed / files done x files left is far off.
      const first = r.finishes[0] ?? 0;
      expect(first / r.endMs).toBeGreaterThan(0.05);
      const byFiles = first * (CORPUS.length - 1);
      expect(byFiles / (r.endMs - first)).toBeGreaterThan(1.5);
      let checked = 0;
      for (const t of r.ticks) {
        const left = r.endMs - t.now;
        if (t.fraction < 0.1 || left < 0.1 * r.endMs) continue;
        checked++;
        expect(t.eta, `ETA at ${t.now} ms (${(t.fraction * 100).toFixed(0)}% of the work)`).toBeDefined();
        expect(Math.abs((t.eta ?? 0) - left) / left, `ETA ${t.eta} ms against ${left} ms left at ${t.now} ms`).toBeLessThanOrEqual(0.3);
      }
      expect(checked).toBeGreaterThan(100);
    });
  }

  it('says "--" until there is a measured basis, then gives an estimate', () => {
    // Thirty files of one size walk their stages together: nothing is measured until they pass the extractor.
    const r = run(
      30,
      300,
      30,
      CORPUS.map(() => 8000),
    );
    const firstEta = r.ticks.findIndex((t) => t.eta !== undefined);
    expect(firstEta).toBeGreaterThan(0);
    expect(r.ticks[firstEta - 1]?.eta).toBeUndefined();
    expect(r.ticks[firstEta]?.fraction).toBeGreaterThan(0.2);
    expect(r.ticks.at(-1)?.eta).toBe(0);
    const eta = new EtaEstimator();
    expect(eta.remainingMs(1000)).toBeUndefined();
    eta.handle({ type: "files_discovered", found: 1, toProcess: 1, skipped: 0, files: [{ path: "a.md", bytes: 100 }] }, 0);
    eta.handle({ type: "llm_call_started", role: "extractor", path: "a.md" }, 0);
    eta.handle({ type: "llm_tokens", role: "extractor", path: "a.md", read: 500, generated: 50, ms: 5000 }, 5000);
    // Tokens flow, but no call has finished (no reading/generation speeds) and no stage is passed.
    expect(eta.remainingMs(5000)).toBeUndefined();
  });

  it("fits a stage's work per file as fixed + per byte, neither negative", () => {
    const line = fitLine([
      { size: 1000, work: 1500 },
      { size: 3000, work: 2500 },
      { size: 5000, work: 3500 },
    ]);
    expect(line.fixed).toBeCloseTo(1000, 6);
    expect(line.perByte).toBeCloseTo(0.5, 9);
    // Work that falls with size: the mean, whatever the size.
    expect(
      fitLine([
        { size: 1000, work: 3000 },
        { size: 3000, work: 1000 },
      ]),
    ).toEqual({ fixed: 2000, perByte: 0 });
    // A fit below zero at size 0: proportional to the size instead.
    expect(
      fitLine([
        { size: 1000, work: 100 },
        { size: 2000, work: 1000 },
      ]),
    ).toEqual({ fixed: 0, perByte: 1100 / 3000 });
    // One size only: half fixed, half proportional.
    expect(fitLine([{ size: 2000, work: 4000 }])).toEqual({ fixed: 2000, perByte: 1 });
  });
});

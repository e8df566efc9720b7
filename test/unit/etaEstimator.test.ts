import path from "node:path";
import { describe, expect, it } from "vitest";
import { etaAccuracy, readEventRecording } from "../../bench/job/etaAccuracy.ts";
import { EtaEstimator } from "../../src/progress/EtaEstimator.ts";
import type { SimStage } from "../helpers/simulatedRun.ts";
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
function pipelineCalls(size: number, index: number): SimStage[] {
  const patterns = Math.min(6, 1 + Math.floor(size / 2500));
  const chunks = Math.ceil(size / 6000);
  const stages: SimStage[] = [
    {
      node: "extractor",
      patterns,
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

  it("a file the extractor found no patterns in has nothing ahead after it; a file's patterns scale the stages after the extractor", () => {
    const eta = new EtaEstimator();
    const files = ["a.md", "b.md", "c.md", "d.md", "e.md"].map((p) => ({ path: p, bytes: 4000 }));
    eta.handle({ type: "files_discovered", found: 5, toProcess: 5, skipped: 0, files }, 0);
    let now = 0;
    const call = (path: string, role: "extractor" | "writer", read: number, generated: number) => {
      eta.handle({ type: "llm_call_started", role, path }, now);
      now += 1000;
      eta.handle({ type: "llm_tokens", role, path, read, generated, ms: 1000 }, now);
      eta.handle({ type: "llm_call_finished", role, path, outputTokens: generated, ms: 1000, memo: false, readMs: 500, evaluatedTokens: read }, now);
    };
    const stage = (path: string, node: string) => eta.handle({ type: "node_started", path, node }, now);
    // Three files extracted (one pattern each), their writers measured; d and e not started.
    for (const p of ["a.md", "b.md", "c.md"]) {
      stage(p, "extractor");
      call(p, "extractor", 1000, 100);
      eta.handle({ type: "node_finished", path: p, node: "extractor", patterns: 1 }, now);
      for (const node of ["researcher", "writer", "validator"]) stage(p, node);
    }
    for (const p of ["a.md", "b.md"]) {
      call(p, "writer", 500, 100);
      stage(p, "recordFile");
      eta.handle({ type: "file_finished", path: p, status: "processed", patterns: 1 }, now);
    }
    const base = eta.remainingMs(now + 1000);
    expect(base).toBeGreaterThan(0);
    // d is extracted and found nothing: only recordFile is ahead of it.
    stage("d.md", "extractor");
    call("d.md", "extractor", 1000, 100);
    eta.handle({ type: "node_finished", path: "d.md", node: "extractor", patterns: 0 }, now);
    stage("d.md", "recordFile");
    const afterNone = eta.remainingMs(now + 1000) ?? 0;
    // e is extracted with four patterns: its later stages weigh four times a one-pattern file's.
    stage("e.md", "extractor");
    call("e.md", "extractor", 1000, 100);
    eta.handle({ type: "node_finished", path: "e.md", node: "extractor", patterns: 4 }, now);
    stage("e.md", "researcher");
    const withFour = eta.remainingMs(now + 1000) ?? 0;
    // Remaining work over work done: c's writer rest + e's four patterns' stages, against d's nothing.
    expect(withFour).toBeGreaterThan(afterNone);
    expect(afterNone).toBeLessThan(base ?? 0);
  });
});

/** Real runs recorded by the job bench (`npm run bench -- --job --engine … --name N` writes .bench/results/N.events.jsonl), replayed once a second. */
describe("ETA on recorded runs", () => {
  it("the trained model's 30-file run, smallest files first and one call at a time (239 s): within 30% for most of the run, and for all of its second half", () => {
    const { events, endMs } = readEventRecording(path.resolve(import.meta.dirname, "../fixtures/eta/trained-30-smallest-first.events.jsonl.gz"));
    const r = etaAccuracy(events, endMs);
    // From half the wall on, every answer within 30%; from a tenth, most (the largest files come last
    // and find more patterns than the small ones measured before them: early answers run low).
    const secondHalf = r.series.filter((t) => t.ms >= 0.5 * endMs && t.leftMs >= 0.1 * endMs);
    expect(secondHalf.length).toBeGreaterThan(80);
    for (const t of secondHalf)
      expect(Math.abs(((t.etaMs ?? 0) - t.leftMs) / t.leftMs), `ETA ${t.etaMs} ms at ${t.ms} ms, ${t.leftMs} ms left`).toBeLessThanOrEqual(0.3);
    expect(r.fromTenth?.none).toBe(0);
    expect(r.fromTenth?.within30).toBeGreaterThanOrEqual(0.6);
  });

  it("random weights of SmolLM2-135M's shape, the same slice (3,322 s): an answer every second from the fifth minute, most of them low", () => {
    const { events, endMs } = readEventRecording(path.resolve(import.meta.dirname, "../fixtures/eta/smollm2-random-30-smallest-first.events.jsonl.gz"));
    const r = etaAccuracy(events, endMs);
    const w = r.fromFifthMinute;
    expect(w?.ticks).toBeGreaterThan(2500);
    expect(w?.none).toBe(0);
    // Measured, not the goal: the three largest files took 3-4x the work of any file before them (a
    // random model's drafts fail round after round: 13 writer calls each against at most 6 before),
    // which no estimate from the files before can know, so the answers run low at the end. What is
    // pinned: never more than 25% high, never below -65%, and not worse than measured.
    expect(w?.high).toBeLessThanOrEqual(0.25);
    expect(w?.low).toBeGreaterThanOrEqual(-0.65);
    expect(w?.within30).toBeGreaterThanOrEqual(0.45);
  });
});

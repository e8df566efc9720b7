import type { PipelineEvent } from "./events.ts";

/** A file's stages in order; `recordFile` (no model call) ends it. The extractor reads the file; the others work on the patterns it found. */
const STAGES = ["extractor", "researcher", "writer", "validator"] as const;
const EXTRACTOR = 0;
const RECORDING = STAGES.length;

/**
 * Each stage's share of a file's work, used only for a stage no file has passed yet (scaled to the
 * stages measured for the same file). Rough shares of this pipeline's calls: the extractor reads
 * the whole file and the writer writes the longest answers.
 */
const PRIOR_SHARE: readonly number[] = [0.35, 0.15, 0.3, 0.2];

/** At most this often the model is fitted again while no file moves on (a display asks several times a second). */
const REFIT_MS = 1000;

/**
 * Files past the extractor before there is an ETA (or every file left, in a smaller run), unless a
 * file has finished: one file's extraction per byte is no basis for all.
 */
const MIN_EXTRACTED = 3;

interface Tokens {
  read: number;
  generated: number;
}

interface FileWork {
  /** Source size in bytes (1 for every file when sizes are unknown: a resumed run). */
  size: number;
  /** The furthest stage reached: 0 extractor … 3 validator, 4 recording. */
  stage: number;
  /** Patterns the extractor found (unknown where the extraction ran before this process: a resumed run). */
  patterns: number | undefined;
  /** Prompt tokens read and tokens generated per stage (a repair round adds to the writer's and validator's). */
  work: Tokens[];
  /** The node now running (0-4): a repair round runs the writer again after the validator. */
  current: number;
  done: boolean;
}

/**
 * A stage's measured tokens per pattern (the prompts and answers after the extractor are the
 * patterns'); `undefined` while no file has passed the stage (and for the extractor, fitted apart).
 */
type StageRates = (Tokens | undefined)[];

interface Model {
  /** Per pattern, for the stages after the extractor. */
  rates: StageRates;
  /** The extractor's tokens per byte of the file. */
  extractPerByte: Tokens;
  /** Patterns a file of a size is expected to go on with. */
  patterns: (size: number) => number;
}

/**
 * The run's remaining time from its measured work, for the progress display:
 *
 * - Work is counted in prompt-token units: a prompt token read costs 1, a generated token `k`, where
 *   `k` is measured from the finished calls (how much faster the engine reads than it generates).
 * - The extractor's work is measured per byte over the files that passed it (sizes from
 *   `files_discovered`): it reads every byte and answers per chunk it reads.
 * - The researcher's, writer's and validator's work (repair rounds included) is measured per
 *   pattern over the files that passed each; a file's pattern count is known once it is extracted
 *   (`node_finished` says it), else expected from its size (`patternCount`). A stage no file has
 *   passed yet is estimated from the file's measured stages with the pipeline's rough stage shares.
 * - Remaining work = every unfinished file's stages still ahead, less what it did in them (at least
 *   a tenth of the one it is in); the rate = the work done since the first call started, per second.
 *
 * So the estimate moves with the work, not with finished files; "ETA --" until three files (or all
 * left of a smaller run) have passed the extractor, or one has finished, and a call has finished. Which files will need repair
 * rounds cannot be known in advance, and files larger than any extracted yet are expected to find
 * as many patterns as the largest seen: answers carry that error, most in the first minutes of a
 * smallest-first run (docs/BENCHMARKS.md measures it on recorded runs: `npm run bench -- --job
 * --eta-replay`).
 */
export class EtaEstimator {
  private readonly files = new Map<string, FileWork>();
  private total = 0;
  private doneBefore = 0;
  private sizesKnown = false;
  private firstStart: number | undefined;
  private read = 0;
  private generated = 0;
  /** Sums over finished calls for `k`: prompt tokens read and the time reading, tokens generated and the time generating. */
  private readTokens = 0;
  private readMs = 0;
  private genTokens = 0;
  private genMs = 0;
  private cached: { at: number; model: Model | undefined } | undefined;

  handle(event: PipelineEvent, now: number): void {
    // A file that moves on changes what has been measured.
    if (event.type === "node_started" || event.type === "node_finished" || event.type === "file_finished" || event.type === "files_discovered")
      this.cached = undefined;
    switch (event.type) {
      case "files_discovered":
        this.total = event.toProcess;
        this.doneBefore = event.alreadyDone ?? 0;
        if (event.files) {
          this.sizesKnown = true;
          for (const f of event.files) this.file(f.path).size = Math.max(1, f.bytes);
        }
        return;
      case "node_started": {
        const stage = event.node === "recordFile" ? RECORDING : STAGES.indexOf(event.node as (typeof STAGES)[number]);
        if (stage < 0) return;
        const f = this.file(event.path);
        f.stage = Math.max(f.stage, stage);
        f.current = stage;
        return;
      }
      case "node_finished":
        if (event.node === STAGES[EXTRACTOR] && event.patterns !== undefined) this.file(event.path).patterns = event.patterns;
        return;
      case "file_finished":
        this.file(event.path).done = true;
        return;
      case "llm_call_started":
        this.firstStart ??= now;
        return;
      case "llm_tokens": {
        this.firstStart ??= now - event.ms;
        this.read += event.read;
        this.generated += event.generated;
        const stage = STAGES.indexOf(event.role as (typeof STAGES)[number]);
        if (event.path === undefined || stage < 0) return;
        const f = this.file(event.path);
        const w = f.work[stage] as Tokens;
        w.read += event.read;
        w.generated += event.generated;
        return;
      }
      case "llm_call_finished": {
        if (event.memo || event.readMs === undefined) return;
        const genMs = event.ms - event.readMs;
        if (event.evaluatedTokens && event.readMs > 0) {
          this.readTokens += event.evaluatedTokens;
          this.readMs += event.readMs;
        }
        if (event.outputTokens > 0 && genMs > 0) {
          this.genTokens += event.outputTokens;
          this.genMs += genMs;
        }
        return;
      }
      default:
        return;
    }
  }

  /** Milliseconds left, or undefined while there is no measured basis yet. */
  remainingMs(now: number): number | undefined {
    const k = this.generationCost();
    if (k === undefined || this.firstStart === undefined) return undefined;
    const elapsed = now - this.firstStart;
    const done = this.read + k * this.generated;
    if (elapsed <= 0 || done <= 0) return undefined;
    const model = this.model(now);
    if (!model) return undefined;
    let remaining = 0;
    let knownSize = 0;
    let known = 0;
    let finished = 0;
    for (const f of this.files.values()) {
      knownSize += f.size;
      known++;
      if (f.done) {
        finished++;
        continue;
      }
      if (f.stage >= RECORDING) continue;
      const expected = expectedWork(model, this.sizesKnown ? f.size : 1, f.stage > EXTRACTOR ? f.patterns : undefined, k);
      // A stage's expected work is its whole share of the file, repair rounds included (as measured):
      // what is left of it is that less what the file did in it, at least a tenth where it runs again.
      for (let s = f.current; s < STAGES.length; s++) {
        const e = expected[s] ?? 0;
        const did = f.work[s] as Tokens;
        remaining += s === f.current || s <= f.stage ? Math.max(0.1 * e, e - (did.read + k * did.generated)) : e;
      }
    }
    if (finished >= this.total - this.doneBefore && this.total > 0) return 0;
    // Files not started yet that the display knows only by count (no sizes: a resumed run).
    const unseen = Math.max(0, this.total - this.doneBefore - known);
    if (unseen > 0) remaining += unseen * expectedWork(model, known > 0 ? knownSize / known : 1, undefined, k).reduce((a, b) => a + b, 0);
    return (remaining / done) * elapsed;
  }

  /** What a generated token costs in read tokens: reading speed over generation speed, from finished calls. */
  private generationCost(): number | undefined {
    if (this.readTokens <= 0 || this.readMs <= 0 || this.genTokens <= 0 || this.genMs <= 0) return undefined;
    const k = this.readTokens / this.readMs / (this.genTokens / this.genMs);
    return Math.min(1000, Math.max(0.5, k));
  }

  private file(path: string): FileWork {
    let f = this.files.get(path);
    if (!f) {
      f = {
        size: 1,
        stage: EXTRACTOR,
        patterns: undefined,
        work: STAGES.map(() => ({ read: 0, generated: 0 })),
        current: EXTRACTOR,
        done: false,
      };
      this.files.set(path, f);
    }
    return f;
  }

  /** The fitted work model, or undefined while too few files have passed the extractor. */
  private model(now: number): Model | undefined {
    if (this.cached && now - this.cached.at < REFIT_MS && now >= this.cached.at) return this.cached.model;
    const size = (f: FileWork) => (this.sizesKnown ? f.size : 1);
    const files = [...this.files.values()];
    const extracted = files.filter((f) => f.done || f.stage > EXTRACTOR);
    let model: Model | undefined;
    const left = Math.max(1, this.total - this.doneBefore);
    if (extracted.length >= Math.min(MIN_EXTRACTED, left) || files.some((f) => f.done)) {
      const counted = extracted.filter((f) => f.patterns !== undefined);
      const patterns = patternCount(counted.map((f) => ({ size: size(f), patterns: f.patterns as number })));
      // A file's patterns: what its extractor said, or (a resumed run) what its size makes likely.
      const patternsOf = (f: FileWork) => f.patterns ?? patterns(size(f));
      const rates: StageRates = STAGES.map((_, s) => {
        if (s === EXTRACTOR) return undefined;
        const passed = files.filter((f) => (f.done || f.stage > s) && patternsOf(f) > 0);
        return ratio(passed, (f) => f.work[s] as Tokens, patternsOf);
      });
      // The extractor reads every byte and answers per chunk read: its work per byte, over every file past it.
      const extractPerByte = ratio(extracted, (f) => f.work[EXTRACTOR] as Tokens, size) ?? { read: 0, generated: 0 };
      model = { rates, extractPerByte, patterns };
    }
    this.cached = { at: now, model };
    return model;
  }
}

/** Tokens per unit over some files (sums over sums: the larger files weigh more), or undefined without files. */
function ratio(files: readonly FileWork[], work: (f: FileWork) => Tokens, units: (f: FileWork) => number): Tokens | undefined {
  let read = 0;
  let generated = 0;
  let n = 0;
  for (const f of files) {
    const w = work(f);
    read += w.read;
    generated += w.generated;
    n += units(f);
  }
  return n > 0 ? { read: read / n, generated: generated / n } : undefined;
}

/**
 * A file's expected work per stage in read-token units. A stage not measured yet: the measured
 * stages' work for this file scaled by the prior shares. No patterns: nothing after the extractor.
 */
function expectedWork(model: Model, size: number, knownPatterns: number | undefined, k: number): number[] {
  const patterns = knownPatterns ?? model.patterns(size);
  const work = STAGES.map((_, s) => {
    if (s === EXTRACTOR) {
      return size * (model.extractPerByte.read + k * model.extractPerByte.generated);
    }
    const r = model.rates[s];
    return r ? patterns * (r.read + k * r.generated) : undefined;
  });
  let measured = 0;
  let share = 0;
  for (const [s, w] of work.entries()) {
    if (w === undefined || (s !== EXTRACTOR && patterns <= 0)) continue;
    measured += w;
    share += PRIOR_SHARE[s] ?? 0;
  }
  return work.map((w, s) => {
    if (s !== EXTRACTOR && patterns <= 0) return 0;
    return w ?? (share > 0 ? (measured * (PRIOR_SHARE[s] ?? 0)) / share : 0);
  });
}

/**
 * A file's expected pattern count from its size: a least-squares line over the extracted files'
 * counts against the log of their size, never falling with size, kept within the counts seen (1
 * before any). The log because counts level off as files grow where a model finds the same patterns
 * again in later chunks (the trained test model: 1-3 in small files, 3 in the largest), and within
 * the counts seen because nothing tells how far they grow.
 */
function patternCount(points: readonly { size: number; patterns: number }[]): (size: number) => number {
  if (points.length === 0) return () => 1;
  const x = (size: number) => Math.log(Math.max(1, size));
  const n = points.length;
  const mx = points.reduce((a, p) => a + x(p.size), 0) / n;
  const my = points.reduce((a, p) => a + p.patterns, 0) / n;
  const vx = points.reduce((a, p) => a + (x(p.size) - mx) ** 2, 0) / n;
  const slope = vx > 1e-9 ? Math.max(0, points.reduce((a, p) => a + (x(p.size) - mx) * (p.patterns - my), 0) / n / vx) : 0;
  const lo = Math.min(...points.map((p) => p.patterns));
  const hi = Math.max(...points.map((p) => p.patterns));
  return (size) => Math.min(hi, Math.max(lo, my + slope * (x(size) - mx)));
}

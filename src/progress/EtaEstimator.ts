import type { PipelineEvent } from "./events.ts";

/** A file's stages in order; `recordFile` (no model call) ends it. */
const STAGES = ["extractor", "researcher", "writer", "validator"] as const;
const RECORDING = STAGES.length;

/**
 * Each stage's share of a file's work, used only for a stage no file has passed yet (scaled to the
 * stages that have been measured). Rough shares of this pipeline's calls: the extractor reads the
 * whole file and the writer writes the longest answers.
 */
const PRIOR_SHARE: readonly number[] = [0.35, 0.15, 0.3, 0.2];

/** At most this often the model is fitted again while no file moves on (a display asks several times a second). */
const REFIT_MS = 1000;

interface FileWork {
  /** Source size in bytes (1 for every file when sizes are unknown: a resumed run). */
  size: number;
  /** The furthest stage reached: 0 extractor … 3 validator, 4 recording. */
  stage: number;
  /** Prompt tokens read and tokens generated per stage (a repair round adds to the writer's and validator's). */
  read: number[];
  generated: number[];
  /** The node now running (0-4) and the work read/generated since it started (a repair round starts the writer again). */
  current: number;
  roundRead: number;
  roundGenerated: number;
  done: boolean;
}

/** A stage's expected tokens for a file of `size` bytes: `fixed + perByte × size` prompt tokens read, and tokens generated likewise. */
interface StageCost {
  read: Line;
  generated: Line;
  measured: boolean;
}

interface Line {
  fixed: number;
  perByte: number;
}

function expectedWork(c: StageCost, size: number, k: number): number {
  return c.read.fixed + c.read.perByte * size + k * (c.generated.fixed + c.generated.perByte * size);
}

/**
 * The run's remaining time from its measured work, for the progress display:
 *
 * - Work is counted in prompt-token units: a prompt token read costs 1, a generated token `k`, where
 *   `k` is measured from the finished calls (how much faster the engine reads than it generates).
 * - Each stage's work per file is fitted as `fixed + perByte × size` over the files that have passed
 *   that stage (source size from `files_discovered`); a stage no file has passed yet is estimated
 *   from the measured ones with the pipeline's rough stage shares.
 * - Remaining work = every unfinished file's stages still ahead (what is left of its current stage
 *   included); the rate = the work done since the first call started, per second.
 *
 * So the estimate moves with the work, not with finished files: thirty files in flight that finish
 * late still get an ETA once a file has passed its first stage. None before that ("ETA --").
 * Where every file runs at once and sizes differ widely, the small files pass each stage first and
 * the fit extrapolates from them: early estimates can then be off by up to about 2x until larger
 * files pass (test/unit/etaEstimator.test.ts pins the within-30% case of a few files in flight).
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
  private cached: { at: number; costs: StageCost[] | undefined } | undefined;

  handle(event: PipelineEvent, now: number): void {
    // A file that moves on changes what has been measured.
    if (event.type === "node_started" || event.type === "file_finished" || event.type === "files_discovered") this.cached = undefined;
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
        f.roundRead = 0;
        f.roundGenerated = 0;
        return;
      }
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
        f.read[stage] = (f.read[stage] ?? 0) + event.read;
        f.generated[stage] = (f.generated[stage] ?? 0) + event.generated;
        f.roundRead += event.read;
        f.roundGenerated += event.generated;
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
    const costs = this.stageCosts(now);
    if (!costs) return undefined;
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
      remaining += fileRemaining(f, costs, k);
    }
    // Files not started yet that the display knows only by count (no sizes: a resumed run).
    const unseen = Math.max(0, this.total - this.doneBefore - known);
    if (unseen > 0) {
      const size = known > 0 ? knownSize / known : 1;
      remaining += unseen * costs.reduce((a, c) => a + expectedWork(c, size, k), 0);
    }
    if (finished >= this.total - this.doneBefore && this.total > 0) return 0;
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
      f = { size: 1, stage: 0, read: [0, 0, 0, 0], generated: [0, 0, 0, 0], current: 0, roundRead: 0, roundGenerated: 0, done: false };
      this.files.set(path, f);
    }
    return f;
  }

  /** Each stage's fitted tokens per file, or undefined while no stage has been measured. */
  private stageCosts(now: number): StageCost[] | undefined {
    if (this.cached && now - this.cached.at < REFIT_MS && now >= this.cached.at) return this.cached.costs;
    const costs = STAGES.map((_, s) => fitStageCost(this.passed(s)));
    const measured = costs.filter((c) => c.measured);
    let result: StageCost[] | undefined;
    if (measured.length > 0) {
      // A stage not measured yet: the measured stages' tokens scaled by the prior shares.
      const share = STAGES.reduce((a, _, s) => a + (costs[s]?.measured ? (PRIOR_SHARE[s] ?? 0) : 0), 0);
      const sum = (f: (c: StageCost) => number) => measured.reduce((a, c) => a + f(c), 0) / share;
      const scaled = (x: number) => ({
        read: { fixed: sum((c) => c.read.fixed) * x, perByte: sum((c) => c.read.perByte) * x },
        generated: { fixed: sum((c) => c.generated.fixed) * x, perByte: sum((c) => c.generated.perByte) * x },
        measured: false,
      });
      result = costs.map((c, s) => (c.measured ? c : scaled(PRIOR_SHARE[s] ?? 0)));
    }
    this.cached = { at: now, costs: result };
    return result;
  }

  /** Size, prompt tokens read and tokens generated of every file past stage `s`. */
  private passed(s: number): { size: number; read: number; generated: number }[] {
    const out: { size: number; read: number; generated: number }[] = [];
    for (const f of this.files.values())
      if (f.done || f.stage > s) out.push({ size: this.sizesKnown ? f.size : 1, read: f.read[s] ?? 0, generated: f.generated[s] ?? 0 });
    return out;
  }
}

/**
 * A file's work still ahead: the rest of the node it is in (at least a tenth of that stage's work;
 * a repair round starts the writer anew) and every stage after it.
 */
function fileRemaining(f: FileWork, costs: readonly StageCost[], k: number): number {
  let rest = 0;
  for (let s = f.current; s < STAGES.length; s++) {
    const c = costs[s];
    if (!c) continue;
    const expected = expectedWork(c, f.size, k);
    if (s === f.current) rest += Math.max(0.1 * expected, expected - (f.roundRead + k * f.roundGenerated));
    else rest += expected;
  }
  return rest;
}

/** A stage's tokens per file, fitted over the files that passed it. */
function fitStageCost(points: readonly { size: number; read: number; generated: number }[]): StageCost {
  if (points.length === 0) return { read: { fixed: 0, perByte: 0 }, generated: { fixed: 0, perByte: 0 }, measured: false };
  return {
    read: fitLine(points.map((p) => ({ size: p.size, work: p.read }))),
    generated: fitLine(points.map((p) => ({ size: p.size, work: p.generated }))),
    measured: true,
  };
}

/**
 * Least squares of `work = fixed + perByte × size`, neither part negative. With one size only, half
 * the mean is taken as fixed and half as proportional to the size.
 */
export function fitLine(points: readonly { size: number; work: number }[]): Line {
  const n = points.length;
  if (n === 0) return { fixed: 0, perByte: 0 };
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sx += p.size;
    sy += p.work;
    sxx += p.size * p.size;
    sxy += p.size * p.work;
  }
  const meanX = sx / n;
  const meanY = sy / n;
  const varX = sxx / n - meanX * meanX;
  if (varX <= (0.05 * meanX) ** 2) return { fixed: meanY / 2, perByte: meanX > 0 ? meanY / 2 / meanX : 0 };
  const perByte = (sxy / n - meanX * meanY) / varX;
  const fixed = meanY - perByte * meanX;
  if (perByte < 0) return { fixed: meanY, perByte: 0 };
  if (fixed < 0) return { fixed: 0, perByte: sx > 0 ? sy / sx : 0 };
  return { fixed, perByte };
}

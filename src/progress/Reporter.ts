import { emptyRoleCounts, ROLES, type Role } from "../llm/roles.ts";
import { terminalText } from "../util/terminalText.ts";
import { EtaEstimator } from "./EtaEstimator.ts";
import type { PipelineEvent } from "./events.ts";

type EventOf<T extends PipelineEvent["type"]> = Extract<PipelineEvent, { type: T }>;

export interface ReporterOptions {
  /** Human output (stderr). */
  err: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Machine output (stdout) when json is on. */
  out: NodeJS.WritableStream;
  json: boolean;
  /** Live redrawing display; defaults to whether stderr is a terminal. */
  live?: boolean;
  color?: boolean;
  now?: () => number;
}

/** Counts the reporter keeps; also read by the final summary. */
export interface ProgressCounts {
  total: number;
  done: number;
  skipped: number;
  processed: number;
  quarantined: number;
  /** Model calls at work per role (they have their sequence: reading or generating). */
  active: Record<Role, number>;
  /** Tokens generated. */
  tokens: number;
  /** Prompt tokens read (evaluated by the engine; those served from a KV cache are not read). */
  read: number;
}

/** The progress line of `--json`, every 2 s while model calls report. */
export interface ProgressTick {
  type: "progress";
  files: { done: number; total: number };
  /** Files in flight per stage (node: extractor, researcher, writer, validator, recordFile). */
  stages: Record<string, number>;
  /** Model calls at work per role. */
  active: Record<Role, number>;
  /** Tokens generated per second (the last 20 s). */
  tokensPerSecond: number;
  /** Prompt tokens read per second (the last 20 s). */
  promptTokensPerSecond: number;
  /** Totals so far: prompt tokens read and tokens generated. */
  tokens: { read: number; generated: number };
  elapsedMs: number;
  /** Estimated time left; null while there is no measured basis yet. */
  etaMs: number | null;
}

const RATE_WINDOW_MS = 20_000;

/** How a stage reads on the display, and its short form for narrow terminals. */
const STAGE_WORDS: Record<string, [string, string]> = {
  extractor: ["extracting", "ext"],
  researcher: ["researching", "res"],
  writer: ["writing", "wri"],
  validator: ["validating", "val"],
  recordFile: ["recording", "rec"],
};
const STAGE_ORDER = Object.keys(STAGE_WORDS);
const ROLE_SHORT: Record<Role, string> = { extractor: "ext", researcher: "res", writer: "wri", validator: "val", synthesizer: "syn" };

/**
 * Renders pipeline events: a live block on a terminal (files done/total, ETA, model calls at work per
 * role, prompt tokens read and tokens generated per second, files in flight per stage), plain lines
 * when stderr is not a terminal, and JSON lines on stdout with --json (the same figures every 2 s).
 */
export class Reporter {
  readonly counts: ProgressCounts = {
    total: 0,
    done: 0,
    skipped: 0,
    processed: 0,
    quarantined: 0,
    active: emptyRoleCounts(),
    tokens: 0,
    read: 0,
  };
  private readonly o: Required<Omit<ReporterOptions, "now">> & { now: () => number };
  private readonly started: number;
  /** Token reports of the last RATE_WINDOW_MS, each spread over the time it covers. */
  private readonly recent: { from: number; to: number; read: number; generated: number }[] = [];
  private firstCall: number | undefined;
  /** The node each file in flight is at. */
  private readonly stageOf = new Map<string, string>();
  private readonly eta = new EtaEstimator();
  private timer: NodeJS.Timeout | undefined;
  private liveLines = 0;
  private lastLine = "";
  private lastPlain = 0;
  private lastJsonTick = 0;
  private lastDownload = 0;

  constructor(options: ReporterOptions) {
    const live = options.live ?? Boolean(options.err.isTTY);
    this.o = { color: live, ...options, live, now: options.now ?? (() => Date.now()) };
    this.started = this.o.now();
  }

  start(): void {
    if (this.o.live && !this.timer) {
      this.timer = setInterval(() => this.redraw(), 250);
      this.timer.unref();
    }
  }

  private closed = false;

  /** After the summary nothing more is reported (work still winding down stays quiet). */
  close(): void {
    this.stop();
    this.closed = true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearLive();
  }

  /** Human text (stderr), kept above the live block. */
  say(text: string): void {
    this.clearLive();
    // File names and model text are data: no control character of theirs reaches the terminal.
    this.o.err.write(`${terminalText(text)}\n`);
    this.redraw();
  }

  json(obj: unknown): void {
    if (this.o.json) this.o.out.write(`${JSON.stringify(obj)}\n`);
  }

  /** Tokens generated per second over the last 20 s. */
  tokensPerSecond(): number {
    return this.rates().generated;
  }

  /** Prompt tokens read per second over the last 20 s. */
  promptTokensPerSecond(): number {
    return this.rates().read;
  }

  /** Milliseconds left by the measured work, or undefined while there is no basis yet. */
  etaMs(): number | undefined {
    return this.eta.remainingMs(this.o.now());
  }

  handle(event: PipelineEvent): void {
    if (this.closed) return;
    this.eta.handle(event, this.o.now());
    switch (event.type) {
      case "llm_call_started":
        this.firstCall ??= this.o.now();
        this.counts.active[event.role]++;
        this.tick();
        return;
      case "llm_tokens":
        this.onTokens(event);
        return;
      case "llm_call_finished":
        // Memo hits (calls finished before an interruption) never started here.
        if (!event.memo) this.counts.active[event.role] = Math.max(0, this.counts.active[event.role] - 1);
        this.tick();
        return;
      case "files_discovered":
        this.onFilesDiscovered(event);
        return;
      case "file_skipped":
        this.json(event);
        this.line(`skipped ${event.path}: ${event.reason}`);
        return;
      case "file_finished":
        this.onFileFinished(event);
        return;
      case "node_started":
        this.stageOf.set(event.path, event.node);
        this.json(event);
        return;
      case "node_finished":
        this.json(event);
        return;
      case "download_progress":
        this.onDownloadProgress(event);
        return;
      case "model_loading":
        this.json(event);
        this.line(`loading model ${event.model}…`);
        return;
      case "model_loaded":
        this.json(event);
        this.line(
          `model ready in ${(event.ms / 1000).toFixed(1)} s: ${event.sequences} sequences x ${event.contextSize} tokens, ${event.threads > 0 ? `${event.threads} threads` : "on model servers"}`,
        );
        return;
      case "message":
        this.json(event);
        this.line(event.level === "warn" ? `warning: ${event.text}` : event.text);
        return;
      case "run_stopping":
        this.close();
        return;
      case "run_started":
        this.json(event);
        this.line(`${event.resumed ? "resuming" : "starting"} run ${event.runId}: ${event.input} -> ${event.out} (model ${event.model})`);
        return;
    }
  }
  private onTokens(event: EventOf<"llm_tokens">): void {
    const now = this.o.now();
    this.firstCall ??= now - event.ms;
    this.counts.read += event.read;
    this.counts.tokens += event.generated;
    this.recent.push({ from: now - Math.max(0, event.ms), to: now, read: event.read, generated: event.generated });
    this.tick();
  }

  private onFilesDiscovered(event: EventOf<"files_discovered">): void {
    this.counts.total = event.toProcess;
    this.counts.done = event.alreadyDone ?? 0;
    // The file list is for the ETA; the --json line keeps it (scripts may want the sizes).
    this.json(event);
    this.line(
      `found ${event.found} files: ${event.toProcess} to process${event.alreadyDone ? ` (${event.alreadyDone} done before the interruption)` : ""}, ${event.skipped} skipped`,
    );
  }

  private onFileFinished(event: EventOf<"file_finished">): void {
    this.stageOf.delete(event.path);
    this.counts.done++;
    if (event.status === "processed") this.counts.processed++;
    else if (event.status === "quarantined") this.counts.quarantined++;
    else this.counts.skipped++;
    this.json(event);
    const what = event.status === "processed" ? `${event.patterns} pattern${event.patterns === 1 ? "" : "s"}` : (event.reason ?? event.status);
    this.lastLine = `${event.status} ${event.path} (${what})`;
    this.line(`[${this.counts.done}/${this.counts.total}] ${this.lastLine}${this.o.live ? "" : ` — ${this.rateText()}, ${this.etaText()}`}`);
  }

  private onDownloadProgress(event: EventOf<"download_progress">): void {
    const now = this.o.now();
    if (now - this.lastDownload < 500 && event.downloadedBytes < event.totalBytes) return;
    this.lastDownload = now;
    this.json(event);
    const pct = event.totalBytes > 0 ? Math.floor((event.downloadedBytes / event.totalBytes) * 100) : 0;
    const mb = (b: number) => (b / 1048576).toFixed(1);
    const text = `downloading ${event.model}: ${pct}% (${mb(event.downloadedBytes)} / ${mb(event.totalBytes)} MiB)`;
    if (this.o.live) {
      this.lastLine = text;
      this.redraw();
    } else if (pct % 10 === 0) this.line(text);
  }

  /** Files in flight per stage (node name), in the stages' order. */
  stages(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const node of this.stageOf.values()) out[node] = (out[node] ?? 0) + 1;
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => stageRank(a) - stageRank(b)));
  }

  /** What the `--json` progress line carries. */
  progress(): ProgressTick {
    const now = this.o.now();
    const rates = this.rates();
    const eta = this.etaMs();
    return {
      type: "progress",
      files: { done: this.counts.done, total: this.counts.total },
      stages: this.stages(),
      active: { ...this.counts.active },
      tokensPerSecond: Math.round(rates.generated),
      promptTokensPerSecond: Math.round(rates.read),
      tokens: { read: this.counts.read, generated: this.counts.tokens },
      elapsedMs: now - this.started,
      etaMs: eta === undefined ? null : Math.round(eta),
    };
  }

  /**
   * The live block's lines, each within `width` columns: files and ETA, model calls at work per role,
   * reading and generation rates, files in flight per stage, the last file finished.
   */
  statusLines(width = (this.o.err.columns ?? 120) - 1): string[] {
    const { done, total } = this.counts;
    const barWidth = Math.max(10, Math.min(30, width - 60));
    const filled = total > 0 ? Math.round((done / total) * barWidth) : 0;
    const bar = `${"█".repeat(filled)}${"░".repeat(barWidth - filled)}`;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
    const lines = [
      `files  ${done}/${total} ${bar} ${pct}%   elapsed ${fmtMs(this.o.now() - this.started)}   ${this.etaText()}`,
      fitWidth(`agents ${this.activeText(false)}`, `agents ${this.activeText(true)}`, width),
      fitWidth(`tokens ${this.rateText()}`, `tokens ${this.rateText(true)}`, width),
      ...(this.stageOf.size > 0 ? [fitWidth(`in flight ${this.stageText(false)}`, `in flight ${this.stageText(true)}`, width)] : []),
      ...(this.lastLine ? [`last   ${terminalText(this.lastLine).replace(/\n/g, " ")}`] : []),
    ];
    return lines.map((l) => truncate(l, width));
  }

  private tick(): void {
    const now = this.o.now();
    if (this.o.json && now - this.lastJsonTick >= 2000) {
      this.lastJsonTick = now;
      this.json(this.progress());
    }
    if (!this.o.live && now - this.lastPlain >= 15_000) {
      this.lastPlain = now;
      const stages = this.stageOf.size > 0 ? `; in flight ${this.stageText(false)}` : "";
      this.o.err.write(
        `… ${this.counts.done}/${this.counts.total} files${stages}; agents ${this.activeText(false)}; ${this.rateText()}; elapsed ${fmtMs(now - this.started)}, ${this.etaText()}\n`,
      );
    }
  }

  private line(text: string): void {
    if (this.o.live) this.say(text);
    else {
      this.lastPlain = this.o.now();
      this.o.err.write(`${terminalText(text)}\n`);
    }
  }

  /** Tokens per second over the last RATE_WINDOW_MS, each report spread over the time it covers. */
  private rates(): { read: number; generated: number } {
    const now = this.o.now();
    const from = now - RATE_WINDOW_MS;
    while (this.recent.length > 0 && (this.recent[0]?.to ?? 0) < from) this.recent.shift();
    let read = 0;
    let generated = 0;
    for (const r of this.recent) {
      const span = r.to - r.from;
      const inside = span <= 0 ? 1 : Math.max(0, Math.min(r.to, now) - Math.max(r.from, from)) / span;
      read += r.read * inside;
      generated += r.generated * inside;
    }
    const seconds = Math.min(RATE_WINDOW_MS, Math.max(1000, now - (this.firstCall ?? now))) / 1000;
    return { read: read / seconds, generated: generated / seconds };
  }

  private rateText(short = false): string {
    const r = this.rates();
    if (short) return `read ${r.read.toFixed(0)}/s gen ${r.generated.toFixed(0)}/s`;
    return `read ${r.read.toFixed(0)} tok/s (${fmtCount(this.counts.read)} prompt tokens), generated ${r.generated.toFixed(0)} tok/s (${fmtCount(this.counts.tokens)})`;
  }

  private etaText(): string {
    const eta = this.etaMs();
    return eta === undefined ? "ETA --" : `ETA ${fmtMs(eta)}`;
  }

  private activeText(short: boolean): string {
    return ROLES.map((r) => `${short ? ROLE_SHORT[r] : r} ${this.counts.active[r]}`).join(short ? " " : "  ");
  }

  private stageText(short: boolean): string {
    return Object.entries(this.stages())
      .map(([node, n]) => `${n} ${STAGE_WORDS[node]?.[short ? 1 : 0] ?? node}`)
      .join(short ? " " : ", ");
  }

  private redraw(): void {
    if (!this.o.live) return;
    const lines = this.statusLines();
    this.clearLive();
    this.o.err.write(`${lines.join("\n")}\n`);
    this.liveLines = lines.length;
  }

  private clearLive(): void {
    if (!this.o.live || this.liveLines === 0) return;
    this.o.err.write(`\x1b[${this.liveLines}A\x1b[0J`);
    this.liveLines = 0;
  }
}

function stageRank(node: string): number {
  const i = STAGE_ORDER.indexOf(node);
  return i < 0 ? STAGE_ORDER.length : i;
}

export function fmtMs(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** 950, 12.3k, 4.1M. */
function fmtCount(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** The full text when it fits, else the short one (cut to the width as a last resort). */
function fitWidth(full: string, short: string, width: number): string {
  return full.length <= width ? full : short;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(0, n - 1))}…`;
}

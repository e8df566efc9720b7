import { emptyRoleCounts, ROLES, type Role } from "../llm/roles.ts";
import { terminalText } from "../util/terminalText.ts";
import type { PipelineEvent } from "./events.ts";

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
  active: Record<Role, number>;
  tokens: number;
}

const TOKEN_WINDOW_MS = 10_000;

/**
 * Renders pipeline events: a live block on a terminal (files done/total, active agents per role,
 * tokens/s, elapsed and ETA), plain lines when stderr is not a terminal, and JSON lines on stdout
 * with --json.
 */
export class Reporter {
  readonly counts: ProgressCounts = { total: 0, done: 0, skipped: 0, processed: 0, quarantined: 0, active: emptyRoleCounts(), tokens: 0 };
  private readonly o: Required<Omit<ReporterOptions, "now">> & { now: () => number };
  private readonly started: number;
  /** Files finished before this process started (a resumed run): not part of this process's rate. */
  private doneAtStart = 0;
  private readonly recent: { t: number; n: number }[] = [];
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

  tokensPerSecond(): number {
    const now = this.o.now();
    while (this.recent.length > 0 && (this.recent[0]?.t ?? 0) < now - TOKEN_WINDOW_MS) this.recent.shift();
    const n = this.recent.reduce((a, r) => a + r.n, 0);
    const span = Math.min(TOKEN_WINDOW_MS, Math.max(1000, now - this.started));
    return (n * 1000) / span;
  }

  handle(event: PipelineEvent): void {
    if (this.closed) return;
    switch (event.type) {
      case "llm_call_started":
        this.counts.active[event.role]++;
        return;
      case "llm_call_finished":
        // Memo hits (calls finished before an interruption) never started here.
        if (!event.memo) this.counts.active[event.role] = Math.max(0, this.counts.active[event.role] - 1);
        this.counts.tokens += event.outputTokens;
        this.recent.push({ t: this.o.now(), n: event.outputTokens });
        this.tick();
        return;
      case "files_discovered":
        this.counts.total = event.toProcess;
        this.doneAtStart = event.alreadyDone ?? 0;
        this.counts.done = this.doneAtStart;
        this.json(event);
        this.line(
          `found ${event.found} files: ${event.toProcess} to process${event.alreadyDone ? ` (${event.alreadyDone} done before the interruption)` : ""}, ${event.skipped} skipped`,
        );
        return;
      case "file_skipped":
        this.json(event);
        this.line(`skipped ${event.path}: ${event.reason}`);
        return;
      case "file_finished": {
        this.counts.done++;
        if (event.status === "processed") this.counts.processed++;
        else if (event.status === "quarantined") this.counts.quarantined++;
        else this.counts.skipped++;
        this.json(event);
        const what = event.status === "processed" ? `${event.patterns} pattern${event.patterns === 1 ? "" : "s"}` : (event.reason ?? event.status);
        this.lastLine = `${event.status} ${event.path} (${what})`;
        this.line(`[${this.counts.done}/${this.counts.total}] ${this.lastLine}${this.o.live ? "" : ` — ${this.rate()}, ${this.eta()}`}`);
        return;
      }
      case "node_started":
      case "node_finished":
        this.json(event);
        return;
      case "download_progress": {
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
        return;
      }
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

  private tick(): void {
    const now = this.o.now();
    if (this.o.json && now - this.lastJsonTick >= 2000) {
      this.lastJsonTick = now;
      this.json({
        type: "progress",
        files: { done: this.counts.done, total: this.counts.total },
        active: this.counts.active,
        tokensPerSecond: Math.round(this.tokensPerSecond()),
        elapsedMs: now - this.started,
      });
    }
    if (!this.o.live && now - this.lastPlain >= 15_000) {
      this.lastPlain = now;
      this.o.err.write(
        `… ${this.counts.done}/${this.counts.total} files, ${this.activeText()}, ${this.rate()}, elapsed ${fmtMs(now - this.started)}, ${this.eta()}\n`,
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

  private rate(): string {
    return `${this.tokensPerSecond().toFixed(0)} tok/s`;
  }

  private eta(): string {
    const { done, total } = this.counts;
    const doneHere = done - this.doneAtStart;
    if (doneHere <= 0 || total === 0) return "ETA --";
    const elapsed = this.o.now() - this.started;
    return `ETA ${fmtMs((elapsed / doneHere) * (total - done))}`;
  }

  private activeText(): string {
    return ROLES.map((r) => `${r} ${this.counts.active[r]}`).join("  ");
  }

  private redraw(): void {
    if (!this.o.live) return;
    const { done, total } = this.counts;
    const width = Math.max(10, Math.min(30, (this.o.err.columns ?? 80) - 60));
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
    const lines = [
      `files  ${done}/${total} ${bar} ${pct}%   elapsed ${fmtMs(this.o.now() - this.started)}   ${this.eta()}`,
      `agents ${this.activeText()}   ${this.rate()}`,
      ...(this.lastLine ? [`last   ${terminalText(this.lastLine).replace(/\n/g, " ")}`] : []),
    ].map((l) => truncate(l, (this.o.err.columns ?? 120) - 1));
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

export function fmtMs(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(0, n - 1))}…`;
}

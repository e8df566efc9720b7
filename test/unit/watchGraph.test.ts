/**
 * `npm run graph -- --watch` in process, with a scripted model: after the first run it stays, runs
 * again on each change with only the changed files processed, keeps the output lock between runs,
 * takes a change made during a run in the next one, and stops on Ctrl-C like a normal run (the
 * printed resume command finishes the interrupted run).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseGraphArgs } from "../../src/commands/graph/parseGraphArgs.ts";
import type { CommandIo } from "../../src/commands/graph/runGraphCommand.ts";
import { runWatchCommand } from "../../src/commands/graph/runWatchCommand.ts";
import { readEnv } from "../../src/config/env.ts";
import { isUserError } from "../../src/errors.ts";
import type { KbJson } from "../../src/kb/schema.ts";
import type { BackendRequest } from "../../src/llm/types.ts";
import { KeptModels } from "../../src/run/KeptModels.ts";
import { runPipeline } from "../../src/run/runPipeline.ts";
import type { RunModels } from "../../src/run/types.ts";
import { OutputLock } from "../../src/store/OutputLock.ts";
import { NOTES, notesModel, notesRunOptions, writeNotes } from "../helpers/notesKb.ts";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-watch-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Holds the model's calls about one file until released (or the call is aborted). */
class Gate {
  file: string | undefined;
  /** Calls held now. */
  waiting = 0;
  private open: (() => void) | undefined;
  hold(file: string): void {
    this.file = file;
  }
  release(): void {
    this.file = undefined;
    this.open?.();
  }
  wait(req: BackendRequest): Promise<void> | undefined {
    if (req.affinityKey !== this.file || this.file === undefined) return undefined;
    this.waiting++;
    return new Promise<void>((resolve, reject) => {
      this.open = resolve;
      req.signal?.addEventListener("abort", () => reject(req.signal?.reason), { once: true });
    }).finally(() => {
      this.waiting--;
    });
  }
}

function watchHarness() {
  const options = notesRunOptions(dir);
  writeNotes(options.input, { "newtype.md": NOTES["newtype.md"] ?? "", "builder.md": NOTES["builder.md"] ?? "" });
  const gate = new Gate();
  const inner = notesModel();
  const model = {
    modelId: inner.modelId,
    contextTokens: inner.contextTokens,
    countTokens: (t: string) => inner.countTokens(t),
    generate: async (req: BackendRequest) => {
      await gate.wait(req);
      return inner.generate(req);
    },
  };
  const models: RunModels = { backendFor: () => model, concurrency: 2 };
  const lines: Record<string, unknown>[] = [];
  const stdout = new PassThrough();
  stdout.setEncoding("utf8");
  let buf = "";
  stdout.on("data", (d: string) => {
    buf += d;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      lines.push({ ...(JSON.parse(buf.slice(0, i)) as Record<string, unknown>), at: Date.now() });
      buf = buf.slice(i + 1);
    }
  });
  const stderr = new PassThrough();
  let stderrText = "";
  stderr.setEncoding("utf8").on("data", (d: string) => {
    stderrText += d;
  });
  let signal: ((s: NodeJS.Signals) => void) | undefined;
  const io: CommandIo = {
    stdout,
    stderr,
    env: readEnv({}),
    onSignal: (handler) => {
      signal = handler;
      return () => {
        signal = undefined;
      };
    },
    exitNow: () => {
      throw new Error("exitNow");
    },
    models,
  };
  const parsed = parseGraphArgs([
    "--input",
    options.input,
    "--out",
    options.out,
    "--db",
    options.db,
    "--research",
    "input",
    "--concurrency",
    "2",
    "--watch",
    "--json",
  ]);
  if (parsed.kind !== "run") throw new Error("parse");
  const done = runWatchCommand({ ...parsed.options, rustc: false }, io, { debounceMs: 100 });
  const summaries = () => lines.filter((l) => l.type === "summary");
  const waitFor = async (what: string, pred: () => boolean, timeoutMs = 15_000) => {
    const until = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; stderr:\n${stderrText}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const kbNames = () => (JSON.parse(fs.readFileSync(path.join(options.out, "kb.json"), "utf8")) as KbJson).entries.map((e) => e.name).sort();
  return { options, gate, inner, lines, summaries, waitFor, done, kbNames, stderr: () => stderrText, ctrlC: () => signal?.("SIGINT"), models };
}

describe("npm run graph -- --watch", () => {
  it("re-runs only what changed, keeps the lock between runs, takes changes made during a run in the next one, and stops on Ctrl-C resumably", async () => {
    const h = watchHarness();
    const notes = h.options.input;
    await h.waitFor("the first run", () => h.lines.some((l) => l.type === "watching"));
    expect(h.summaries()[0]).toMatchObject({ status: "done", files: { processed: 2 } });
    expect(h.kbNames()).toEqual(["Builder", "Newtype"]);

    // Between runs the watch holds the output lock: another writer is refused.
    const lock = JSON.parse(fs.readFileSync(path.join(h.options.out, ".kb", "lock"), "utf8")) as { runId: string; pid: number };
    expect(lock).toMatchObject({ runId: `watch-${process.pid}`, pid: process.pid });
    const other = (() => {
      try {
        return OutputLock.acquire(h.options.out, { runId: "other", db: "" });
      } catch (e) {
        return e;
      }
    })();
    expect(isUserError(other) && other.code).toBe("RUN_LOCKED");

    // A saved change: one run, only that file processed.
    const calls = h.inner.requests.length;
    const saved = Date.now();
    fs.appendFileSync(path.join(notes, "newtype.md"), "\nA newtype costs nothing at run time.\n");
    await h.waitFor("the run after a save", () => h.summaries().length === 2);
    const started = h.lines.find((l) => l.type === "run_started" && (l.at as number) >= saved);
    expect(started).toBeDefined();
    expect(h.summaries()[1]).toMatchObject({ status: "done", files: { processed: 1, unchanged: 1 } });
    expect(
      new Set(
        h.inner.requests
          .slice(calls)
          .map((r) => r.affinityKey)
          .filter(Boolean),
      ),
    ).toEqual(new Set(["newtype.md"]));
    expect(h.stderr()).toMatch(/changed: newtype\.md — running again \(models stay loaded\)/);

    // A file added, and while its run is going another file changes: the next run takes the change.
    h.gate.hold("errors/unwrap.md");
    writeNotes(notes, { "errors/unwrap.md": NOTES["errors/unwrap.md"] ?? "" });
    await h.waitFor("the added file's extractor call", () => h.gate.waiting > 0);
    fs.writeFileSync(
      path.join(notes, "builder.md"),
      "# Typestate builder\n\nA builder whose type changes with each required step, so build() exists only when all are set.\n",
    );
    await h.waitFor("the change seen during the run", () => h.lines.some((l) => l.type === "watch_changes" && l.running === true));
    h.gate.release();
    await h.waitFor("the run of the change made during the previous run", () => h.summaries().length === 4);
    expect(h.summaries()[2]).toMatchObject({ status: "done", files: { processed: 1 } });
    expect(h.summaries()[3]).toMatchObject({ status: "done", files: { processed: 1, unchanged: 2 } });
    expect(h.kbNames()).toEqual(["Avoid unwrap on Result", "Newtype", "Typestate builder"]);

    // A removed file's entry leaves the knowledge base.
    fs.rmSync(path.join(notes, "errors"), { recursive: true });
    await h.waitFor("the run after a removal", () => h.summaries().length === 5);
    expect(h.kbNames()).toEqual(["Newtype", "Typestate builder"]);

    // Ctrl-C during a run: stopped like a normal run, resumable with the printed command.
    h.gate.hold("newtype.md");
    fs.appendFileSync(path.join(notes, "newtype.md"), "\nIt also documents intent.\n");
    await h.waitFor("the run's first call", () => h.gate.waiting > 0);
    h.ctrlC();
    expect(await h.done).toBe(130);
    const last = h.summaries().at(-1);
    expect(last).toMatchObject({ status: "interrupted", resume: expect.stringMatching(/--resume$/) });
    expect(fs.existsSync(path.join(h.options.out, ".kb", "lock"))).toBe(false);
    h.gate.release();
    const resumed = await runPipeline({ ...h.options, resume: true }, { models: h.models });
    expect(resumed).toMatchObject({ status: "done", runId: last?.runId });
    expect(h.kbNames()).toEqual(["Newtype", "Typestate builder"]);
  }, 60_000);

  it("Ctrl-C while waiting ends the watch with the last run's exit code and lets the lock go", async () => {
    const h = watchHarness();
    await h.waitFor("the first run", () => h.lines.some((l) => l.type === "watching"));
    h.ctrlC();
    expect(await h.done).toBe(0);
    expect(h.stderr()).toMatch(/Stopped watching\.\n$/);
    expect(fs.existsSync(path.join(h.options.out, ".kb", "lock"))).toBe(false);
  });

  it("refuses an output directory that is not a knowledge base before anything is created", async () => {
    const options = notesRunOptions(dir);
    writeNotes(options.input);
    fs.mkdirSync(options.out);
    fs.writeFileSync(path.join(options.out, "mine.txt"), "not a KB");
    const parsed = parseGraphArgs(["--input", options.input, "--out", options.out, "--db", options.db, "--watch"]);
    if (parsed.kind !== "run") throw new Error("parse");
    const stderr = new PassThrough();
    const code = await runWatchCommand(parsed.options, {
      stdout: new PassThrough(),
      stderr,
      env: readEnv({}),
      onSignal: () => () => {},
      exitNow: () => {
        throw new Error("exitNow");
      },
    });
    expect(code).toBe(2);
    expect(String(stderr.read())).toMatch(/^error \[OUTPUT_NOT_KB\]/);
    expect(fs.readdirSync(options.out)).toEqual(["mine.txt"]);
  });
});

describe("KeptModels", () => {
  it("opens the models once for runs with the same key, reopens for another key, and disposes them once", async () => {
    const kept = new KeptModels();
    const log: string[] = [];
    const open = (name: string) => async (onCleanup: (c: () => void) => void) => {
      log.push(`open ${name}`);
      onCleanup(() => {
        log.push(`dispose ${name}`);
      });
      return { backendFor: () => notesModel(), concurrency: 1 };
    };
    const first = await kept.get("a", open("a"));
    expect(await kept.get("a", open("a2"))).toBe(first);
    await kept.get("b", open("b"));
    await kept.dispose();
    await kept.dispose();
    expect(log).toEqual(["open a", "dispose a", "open b", "dispose b"]);
    await expect(
      kept.get("c", async (onCleanup) => {
        onCleanup(() => {
          log.push("dispose half-open c");
        });
        throw new Error("load failed");
      }),
    ).rejects.toThrow("load failed");
    expect(log.at(-1)).toBe("dispose half-open c");
  });
});

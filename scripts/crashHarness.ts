/**
 * Crash-test harness: starts real pipeline runs (the CLI, a tiny real model, deterministic
 * settings), SIGKILLs them at chosen moments, resumes, and checks after every cycle that
 *  - the run finishes, and its knowledge base is byte-identical to an uninterrupted run's;
 *  - no finished LLM call was ever made twice (the ledger holds exactly the reference's calls, and
 *    the finishing process made exactly the calls that were missing);
 *  - no half-written page was ever visible in the output directory (a watcher reads every page
 *    while the runs go on, and the directory is checked after every kill).
 * Used by test/model/crash.test.ts in a short form and by `npx tsx scripts/crashTest.ts` long.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";

export type KillPoint = "model-load" | "mid-generation" | "checkpoint-write" | "synthesis" | "random";
export const KILL_POINTS: KillPoint[] = ["model-load", "mid-generation", "checkpoint-write", "synthesis", "random"];

export interface HarnessOptions {
  repo: string;
  model: string;
  /** Input files (absolute paths) copied into a fresh input directory. */
  files: string[];
  cycles: number;
  /** Kills per cycle before the run is let finish. */
  killsPerCycle: number;
  seed: number;
  points?: KillPoint[];
  workDir?: string;
  log?: (line: string) => void;
}

export interface CycleResult {
  cycle: number;
  kills: { point: KillPoint; afterMs: number; callsAtKill: number; killed: boolean }[];
  identical: boolean;
  callsOk: boolean;
  tornPages: string[];
  error?: string;
}

export interface HarnessResult {
  referenceCalls: number;
  referenceMs: number;
  cycles: CycleResult[];
  byPoint: Record<KillPoint, { kills: number; cyclesPassed: number; cycles: number }>;
}

interface Proc {
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(): void;
  events: Record<string, unknown>[];
  waitFor(pred: (e: Record<string, unknown>) => boolean, timeoutMs: number): Promise<boolean>;
  startedAt: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) % 1_000_000) / 1_000_000;
  };
}

function startRun(repo: string, args: string[]): Proc {
  const child = spawn(
    process.execPath,
    ["--require", path.join(repo, "cli", "threadpool.cjs"), "--import", "tsx", path.join(repo, "cli", "graph.ts"), ...args],
    {
      cwd: repo,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const events: Record<string, unknown>[] = [];
  const watchers: { pred: (e: Record<string, unknown>) => boolean; resolve: (v: boolean) => void }[] = [];
  let stdout = "";
  let stderr = "";
  let buf = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    buf += d;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        for (const w of [...watchers])
          if (w.pred(e)) {
            watchers.splice(watchers.indexOf(w), 1);
            w.resolve(true);
          }
      } catch {
        // not an event
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code, signal) => {
      for (const w of watchers.splice(0)) w.resolve(false);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    done,
    events,
    startedAt: Date.now(),
    kill: () => child.kill("SIGKILL"),
    waitFor: (pred, timeoutMs) =>
      new Promise((resolve) => {
        if (events.some(pred)) return resolve(true);
        const t = setTimeout(() => resolve(false), timeoutMs);
        watchers.push({
          pred,
          resolve: (v) => {
            clearTimeout(t);
            resolve(v);
          },
        });
      }),
  };
}

/** Every visible page (not the hidden .kb store, not temp files) as path -> content. */
export function snapshotPages(out: string): Map<string, string> {
  const m = new Map<string, string>();
  const walk = (dir: string) => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else {
        try {
          m.set(path.relative(out, full), fs.readFileSync(full, "utf8"));
        } catch {
          // vanished between listing and reading (a rename): not torn
        }
      }
    }
  };
  walk(out);
  return m;
}

/** A page is whole when it is complete markdown/JSON as the renderer writes it. */
export function tornPages(pages: Map<string, string>): string[] {
  const torn: string[] = [];
  for (const [rel, text] of pages) {
    if (rel.endsWith(".json")) {
      try {
        JSON.parse(text);
      } catch {
        torn.push(rel);
      }
    } else if (rel.endsWith(".md")) {
      // Pattern pages open with YAML front matter, then the title.
      const body = text.startsWith("---\n") ? text.slice(text.indexOf("\n---\n", 4) + 5).replace(/^\n/, "") : text;
      if (!body.startsWith("# ") || !text.endsWith("\n")) torn.push(rel);
      else if (rel.startsWith("patterns/") && !text.includes("\n## Sources")) torn.push(rel);
    }
  }
  return torn;
}

function callRows(db: string): number {
  if (!fs.existsSync(db)) return 0;
  const h = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (h.prepare("SELECT COUNT(*) AS n FROM llm_calls").get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    h.close();
  }
}

export async function runCrashHarness(o: HarnessOptions): Promise<HarnessResult> {
  const log = o.log ?? (() => {});
  const random = rng(o.seed);
  const work = o.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "kb-crash-"));
  const input = path.join(work, "input");
  fs.mkdirSync(input, { recursive: true });
  for (const f of o.files) fs.copyFileSync(f, path.join(input, path.basename(f)));
  const args = (out: string, db: string, resume: boolean) => [
    "--input",
    input,
    "--out",
    out,
    "--db",
    db,
    "--model",
    o.model,
    "--threads",
    "1",
    "--concurrency",
    "1",
    "--no-llm-review",
    "--research",
    "input",
    "--keep-history",
    "--json",
    ...(resume ? ["--resume"] : []),
  ];

  const refOut = path.join(work, "ref-kb");
  const refDb = path.join(work, "ref.sqlite");
  const t0 = Date.now();
  const ref = await startRun(o.repo, args(refOut, refDb, false)).done;
  const referenceMs = Date.now() - t0;
  if (ref.code !== 0) throw new Error(`reference run failed:\n${ref.stderr}`);
  const referenceCalls = callRows(refDb);
  const refPages = snapshotPages(refOut);
  log(`reference: ${referenceCalls} LLM calls, ${referenceMs} ms, ${refPages.size} pages`);

  const points = o.points ?? KILL_POINTS;
  const cycles: CycleResult[] = [];
  let pointIndex = 0;
  for (let cycle = 1; cycle <= o.cycles; cycle++) {
    const out = path.join(work, `c${cycle}-kb`);
    const db = path.join(work, `c${cycle}.sqlite`);
    const result: CycleResult = { cycle, kills: [], identical: false, callsOk: false, tornPages: [] };
    // A watcher reads every visible page while the runs go on.
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const p of tornPages(snapshotPages(out))) if (!result.tornPages.includes(p)) result.tornPages.push(p);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      let resume = false;
      for (let k = 0; k < o.killsPerCycle; k++) {
        const point = points[pointIndex++ % points.length] as KillPoint;
        const proc = startRun(o.repo, args(out, db, resume));
        const reached = await waitForPoint(proc, point, random, referenceMs);
        const afterMs = Date.now() - proc.startedAt;
        proc.kill();
        const r = await proc.done;
        const killed = r.signal === "SIGKILL";
        if (!killed && r.code !== 0) throw new Error(`a run exited ${r.code} before its kill:\n${r.stderr.slice(-2000)}`);
        result.kills.push({ point, afterMs, callsAtKill: callRows(db), killed: killed && reached });
        for (const p of tornPages(snapshotPages(out))) if (!result.tornPages.includes(p)) result.tornPages.push(p);
        // A kill before the run row existed leaves nothing to resume: the next start is a fresh run.
        const status = runStatus(db);
        resume = status !== undefined;
        log(
          `cycle ${cycle}: killed at ${point} after ${afterMs} ms (${killed ? "killed" : `exited ${r.code}`}), ${result.kills.at(-1)?.callsAtKill} calls saved`,
        );
        if (status === "done") break;
      }
      const before = callRows(db);
      // The last kill can come too late (the run already finished): then there is nothing to finish.
      let madeByFinisher = 0;
      if (runStatus(db) !== "done") {
        const final = await startRun(o.repo, args(out, db, resume)).done;
        if (final.code !== 0) throw new Error(`the finishing run exited ${final.code}:\n${final.stderr.slice(-2000)}`);
        const summary = JSON.parse(final.stdout.trim().split("\n").at(-1) ?? "{}") as { llm?: { calls?: number } };
        madeByFinisher = summary.llm?.calls ?? -1;
      }
      const after = callRows(db);
      result.callsOk = after === referenceCalls && madeByFinisher === referenceCalls - before;
      if (!result.callsOk)
        result.error = `calls: ledger ${after} (reference ${referenceCalls}); finishing run made ${madeByFinisher}, ${referenceCalls - before} were missing`;
      const pages = snapshotPages(out);
      result.identical = pages.size === refPages.size && [...refPages].every(([k, v]) => pages.get(k) === v);
      if (!result.identical) result.error = `${result.error ? `${result.error}; ` : ""}knowledge base differs from the uninterrupted run's`;
    } catch (e) {
      result.error = (e as Error).message;
    } finally {
      watching = false;
      await watcher;
    }
    cycles.push(result);
    log(
      `cycle ${cycle}: ${result.identical && result.callsOk && result.tornPages.length === 0 ? "ok" : `FAILED ${result.error ?? ""} ${result.tornPages.join(",")}`}`,
    );
  }
  const byPoint = Object.fromEntries(KILL_POINTS.map((p) => [p, { kills: 0, cyclesPassed: 0, cycles: 0 }])) as HarnessResult["byPoint"];
  for (const c of cycles) {
    const ok = c.identical && c.callsOk && c.tornPages.length === 0 && !c.error;
    for (const p of new Set(c.kills.map((k) => k.point))) {
      byPoint[p].cycles++;
      if (ok) byPoint[p].cyclesPassed++;
    }
    for (const k of c.kills) byPoint[k.point].kills++;
  }
  if (!o.workDir) fs.rmSync(work, { recursive: true, force: true });
  return { referenceCalls, referenceMs, cycles, byPoint };
}

function runStatus(db: string): string | undefined {
  if (!fs.existsSync(db)) return undefined;
  const h = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (h.prepare("SELECT status FROM runs ORDER BY started_at DESC LIMIT 1").get() as { status: string } | undefined)?.status;
  } catch {
    return undefined;
  } finally {
    h.close();
  }
}

/** Waits until the process reaches the kill point (plus a random offset); false if it ended first. */
async function waitForPoint(proc: Proc, point: KillPoint, random: () => number, referenceMs: number): Promise<boolean> {
  const jitter = (maxMs: number) => new Promise((r) => setTimeout(r, Math.floor(random() * maxMs)));
  const ev = (type: string, node?: string) => (e: Record<string, unknown>) => e.type === type && (node === undefined || e.node === node);
  switch (point) {
    case "model-load":
      // Between process start and the model being ready (llama.cpp loading, DB opening).
      if (!(await proc.waitFor(ev("model_loading"), 60_000))) return false;
      await jitter(300);
      return true;
    case "mid-generation": {
      const node = random() < 0.5 ? "extractor" : "writer";
      if (!(await proc.waitFor(ev("node_started", node), 60_000))) return false;
      await jitter(400);
      return true;
    }
    case "checkpoint-write":
      // Right after a node finishes, LangGraph writes its checkpoint.
      if (!(await proc.waitFor(ev("node_finished"), 60_000))) return false;
      await jitter(4);
      return true;
    case "synthesis":
      // recordFile stores the file's drafts; synthesize (after the last file) writes every page.
      if (random() < 0.5) {
        if (!(await proc.waitFor(ev("node_started", "recordFile"), 60_000))) return false;
        await jitter(10);
      } else {
        const total = proc.events.find((e) => e.type === "files_discovered")?.toProcess;
        if (
          !(await proc.waitFor(
            (e) => e.type === "file_finished" && proc.events.filter((x) => x.type === "file_finished").length >= Number(total ?? 1),
            120_000,
          ))
        )
          return false;
        await jitter(60);
      }
      return true;
    case "random":
      await jitter(referenceMs);
      return true;
  }
}

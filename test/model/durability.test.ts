/**
 * Durable runs with the CLI and a tiny real model: incremental re-runs (ledger), --force, the
 * output-directory lock, two runs sharing one DB, and failures that are not crashes (a model that
 * throws mid-generation, a full disk, a read-only output directory), each ending with a clear
 * message and a resumable checkpoint. Runs go through the CLI's parser and command in this process
 * (test/helpers/inProcessCli.ts); the runs a test kills, or that must be separate processes sharing
 * one database, are real processes.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli, summaryOf } from "../helpers/cli.ts";
import { runInProcess } from "../helpers/inProcessCli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
const FILES = ["rust-patterns/idioms/concat-format.md", "rust-patterns/idioms/temporary-mutability.txt", "rust-patterns/idioms/pass-var-to-closure.md"];

let tmp: string;
/** One uninterrupted run over FILES, shared: the incremental test continues from it, the model-failure test compares with it. */
let ref: { input: string; out: string; db: string; run: Awaited<ReturnType<typeof runInProcess>>; pages: Map<string, string> };
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-durable-"));
  const input = makeInput("inc");
  const out = path.join(tmp, "inc-kb");
  const db = path.join(tmp, "inc.sqlite");
  const run = await runInProcess("graph", args(input, out, db));
  ref = { input, out, db, run, pages: pages(out) };
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function makeInput(name: string, files = FILES): string {
  const dir = path.join(tmp, name);
  for (const rel of files) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.copyFileSync(sharedCorpus("rust-research", rel), path.join(dir, rel));
  }
  return dir;
}

function args(input: string, out: string, db: string, extra: string[] = []): string[] {
  return [
    "--input",
    input,
    "--out",
    out,
    "--db",
    db,
    "--model",
    MODEL,
    "--threads",
    "1",
    "--concurrency",
    "1",
    "--no-llm-review",
    "--research",
    "input",
    "--json",
    ...extra,
  ];
}

function pages(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const sub of ["", "patterns", "categories"]) {
    const dir = path.join(out, sub);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) if (f.endsWith(".md") || f === "kb.json") m.set(path.join(sub, f), fs.readFileSync(path.join(dir, f), "utf8"));
  }
  return m;
}

/** Mounts a filesystem for a test when the machine allows it (root in a container here); otherwise undefined. */
function tryMount(args: string[], dir: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync("mount", [...args, dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
function unmount(dir: string): void {
  try {
    execFileSync("umount", [dir], { stdio: "ignore" });
  } catch {
    // not mounted
  }
}

describe("incremental runs", () => {
  it("re-runs an unchanged directory with no LLM calls, redoes only what changed, and removes what came from deleted files", async () => {
    // The first run is the shared reference run (this test alone goes on to change its input).
    const { input, out, db } = ref;
    expect(ref.run.code, ref.run.stderr).toBe(0);
    const firstPages = ref.pages;

    const again = await runInProcess("graph", args(input, out, db));
    expect(again.code, again.stderr).toBe(0);
    const s2 = summaryOf(again);
    expect(s2.llm.calls).toBe(0);
    expect(s2.files).toMatchObject({ found: 3, unchanged: 3, processed: 0 });
    expect(again.stderr).toMatch(/3 files unchanged since the last run/);
    expect(pages(out)).toEqual(firstPages);

    // Change one file, add one, delete one.
    fs.appendFileSync(path.join(input, FILES[0] ?? ""), "\n\nOne more paragraph about formatting strings.\n");
    fs.copyFileSync(sharedCorpus("rust-research", "rust-patterns/idioms/option-iter.txt"), path.join(input, "rust-patterns/idioms/option-iter.txt"));
    fs.rmSync(path.join(input, FILES[2] ?? ""));
    const third = await runInProcess("graph", args(input, out, db));
    expect(third.code, third.stderr).toBe(0);
    const s3 = summaryOf(third);
    expect(s3.files).toMatchObject({ found: 3, unchanged: 1 });
    expect(s3.files.processed + s3.files.quarantined + s3.files.skipped).toBe(2);
    expect(third.stderr).toMatch(/1 files changed since the last run/);
    const kb = JSON.parse(fs.readFileSync(path.join(out, "kb.json"), "utf8")) as { entries: { sources: { relPath: string }[] }[] };
    const cited = new Set(kb.entries.flatMap((e) => e.sources.map((s) => s.relPath)));
    expect(cited.has(FILES[2] ?? "")).toBe(false);

    // The incremental result equals a fresh run over the directory as it is now.
    const fresh = await runInProcess("graph", args(input, path.join(tmp, "inc-fresh"), path.join(tmp, "inc-fresh.sqlite")));
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(pages(out)).toEqual(pages(path.join(tmp, "inc-fresh")));
  });

  it("re-processes everything when settings change (and says so), or with --force", async () => {
    const input = makeInput("settings", FILES.slice(0, 1));
    const out = path.join(tmp, "settings-kb");
    const db = path.join(tmp, "settings.sqlite");
    expect((await runInProcess("graph", args(input, out, db))).code).toBe(0);
    const changed = await runInProcess(
      "graph",
      args(input, out, db).filter((a) => a !== "--no-llm-review"),
    );
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toMatch(/pipeline settings changed since 1 files were processed: re-processing them/);
    expect(summaryOf(changed).files.unchanged).toBe(0);
    const forced = await runInProcess("graph", [...args(input, out, db).filter((a) => a !== "--no-llm-review"), "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(summaryOf(forced).files.unchanged).toBe(0);
    expect(summaryOf(forced).llm.calls).toBeGreaterThan(0);
  });
});

describe("runs side by side", () => {
  it("refuses a second run on the same output while one is active, naming it; a killed run does not leave the lock stuck", async () => {
    const input = makeInput("lock", [...FILES, "rust-patterns/idioms/default.md", "rust-patterns/idioms/option-iter.txt"]);
    const out = path.join(tmp, "lock-kb");
    const db = path.join(tmp, "lock.sqlite");
    const first = startCli("graph", args(input, out, db));
    const started = await first.waitFor((e) => e.type === "run_started");
    const second = await runInProcess("graph", args(input, out, path.join(tmp, "lock-other.sqlite")));
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`Run ${started.runId as string}`);
    expect(second.stderr).toMatch(/is writing to .*lock-kb right now/);
    first.child.kill("SIGKILL");
    await first.done;
    const resumed = await runInProcess("graph", args(input, out, db, ["--resume"]));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(summaryOf(resumed).runId).toBe(started.runId);
  });

  it("lets two runs on different outputs share one checkpoint database at the same time", async () => {
    const db = path.join(tmp, "shared.sqlite");
    const a = startCli("graph", args(makeInput("share-a", FILES.slice(0, 2)), path.join(tmp, "share-a-kb"), db));
    const b = startCli("graph", args(makeInput("share-b", FILES.slice(1)), path.join(tmp, "share-b-kb"), db));
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const h = new Database(db, { readonly: true });
    expect((h.prepare("SELECT COUNT(*) AS n FROM runs WHERE status = 'done'").get() as { n: number }).n).toBe(2);
    h.close();
  });
});

describe("failures that are not crashes", () => {
  it("a model that throws mid-generation: clear message, exit 1, resumable to the same knowledge base", async () => {
    // The same files as the shared reference run, laid out as the reference's (pages link to their sources
    // by relative path): modelfail/inc next to modelfail/inc-kb, as inc next to inc-kb.
    expect(ref.run.code, ref.run.stderr).toBe(0);
    const input = makeInput("modelfail/inc");
    const out = path.join(tmp, "modelfail", "inc-kb");
    const db = path.join(tmp, "modelfail", "inc.sqlite");
    const failed = await runInProcess("graph", args(input, out, db), { env: { RUST_KB_TEST_FAULTS: "model:after=3" } });
    expect(failed.code).toBe(1);
    const s = summaryOf(failed);
    expect(s.status).toBe("failed");
    expect(s.error.message).toMatch(/llama\.cpp failed during generation/);
    expect(s.resume).toContain("--resume");
    const resumed = await runInProcess("graph", args(input, out, db, ["--resume"]));
    expect(resumed.code, resumed.stderr).toBe(0);
    // Calls that finished before the failure were not made again.
    expect(summaryOf(resumed).llm.calls).toBe(summaryOf(ref.run).llm.calls - 3);
    expect(pages(out)).toEqual(ref.pages);
  });

  const mnt = path.join(os.tmpdir(), `kb-tmpfs-${process.pid}`);
  const canMount = tryMount(["-t", "tmpfs", "-o", "size=96k", "tmpfs"], mnt);

  it.skipIf(!canMount)("a full disk (a real 96 KiB tmpfs as --out): clear message, exit 1, resumable once there is space", async () => {
    const input = makeInput("full");
    const out = path.join(mnt, "kb");
    const db = path.join(tmp, "full.sqlite");
    const failed = await runInProcess("graph", args(input, out, db));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/No space left on the device/);
    expect(summaryOf(failed).resume).toContain("--resume");
    execFileSync("mount", ["-o", "remount,size=16m", mnt]);
    const resumed = await runInProcess("graph", args(input, out, db, ["--resume"]));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(fs.existsSync(path.join(out, "index.md"))).toBe(true);
  });

  it("a full disk while writing pages (injected ENOSPC at the write layer): clear message, resumable", async () => {
    const input = makeInput("enospc", FILES.slice(0, 1));
    const out = path.join(tmp, "enospc-kb");
    const db = path.join(tmp, "enospc.sqlite");
    const failed = await runInProcess("graph", args(input, out, db), { env: { RUST_KB_TEST_FAULTS: "write:ENOSPC:after=0" } });
    expect(failed.code).toBe(1);
    expect(summaryOf(failed).error.code).toBe("DISK_FULL");
    expect(failed.stderr).toMatch(/Free some disk space, then resume/);
    const resumed = await runInProcess("graph", args(input, out, db, ["--resume"]));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(summaryOf(resumed).llm.calls).toBe(0);
  });

  const roSrc = path.join(os.tmpdir(), `kb-ro-src-${process.pid}`);
  const roMnt = path.join(os.tmpdir(), `kb-ro-${process.pid}`);
  fs.mkdirSync(roSrc, { recursive: true });
  const canBind = tryMount(["--bind", roSrc], roMnt) && tryMount(["-o", "remount,bind,ro"], roMnt);
  afterAll(() => {
    unmount(mnt);
    unmount(roMnt);
    fs.rmSync(roSrc, { recursive: true, force: true });
  });

  it.skipIf(!canBind)("a read-only output directory (a real read-only bind mount): refused before any work with what to do", async () => {
    const r = await runInProcess("graph", args(makeInput("ro", FILES.slice(0, 1)), roMnt, path.join(tmp, "ro.sqlite")));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Cannot write the output directory .* \(EROFS\)/);
    expect(r.stderr).toMatch(/Choose a writable --out directory/);
    expect(summaryOf(r).llm.calls).toBe(0);
  });

  it("an output directory that turns read-only mid-run (injected EROFS): clear message, resumable", async () => {
    const input = makeInput("erofs", FILES.slice(0, 1));
    const out = path.join(tmp, "erofs-kb");
    const db = path.join(tmp, "erofs.sqlite");
    const failed = await runInProcess("graph", args(input, out, db), { env: { RUST_KB_TEST_FAULTS: "write:EROFS:after=0" } });
    expect(failed.code).toBe(1);
    expect(summaryOf(failed).error.code).toBe("OUTPUT_NOT_WRITABLE");
    const resumed = await runInProcess("graph", args(input, out, db, ["--resume"]));
    expect(resumed.code, resumed.stderr).toBe(0);
  });
});

/**
 * One poisoned file through `npm run graph` with the tiny real model: a node that throws on it (as
 * a bug would, injected with RUST_KB_TEST_FAULTS) sets that file aside with the node and the
 * error, the other files finish, the run exits 0, and the next run tries the file again.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { summaryOf } from "../helpers/cli.ts";
import { runInProcess } from "../helpers/inProcessCli.ts";
import { sharedCorpus, sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");
const FILES = ["rust-patterns/idioms/concat-format.md", "rust-patterns/idioms/temporary-mutability.txt", "rust-patterns/idioms/pass-var-to-closure.md"];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-poison-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function args(input: string, out: string, db: string): string[] {
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
  ];
}

describe("a poisoned file", () => {
  it("is quarantined with the node and the error, the run exits 0 with the other files finished, and the next run retries it", async () => {
    const input = path.join(tmp, "in");
    for (const rel of FILES) {
      fs.mkdirSync(path.dirname(path.join(input, rel)), { recursive: true });
      fs.copyFileSync(sharedCorpus("rust-research", rel), path.join(input, rel));
    }
    const out = path.join(tmp, "kb");
    const db = path.join(tmp, "runs.sqlite");
    const poisoned = await runInProcess("graph", args(input, out, db), { env: { RUST_KB_TEST_FAULTS: "node:extractor:path=temporary-mutability" } });
    expect(poisoned.code, poisoned.stderr).toBe(0);
    const s = summaryOf(poisoned);
    expect(s.status).toBe("done");
    expect(s.files.pending).toBe(0);
    expect(s.quarantinedFiles).toContainEqual({
      path: "rust-patterns/idioms/temporary-mutability.txt",
      reason: expect.stringMatching(/^failed in the extractor node on an unexpected error \(TypeError: injected fault in extractor/),
    });
    // The other files ran to the end on their own merits.
    const others = [...s.skipped, ...s.quarantinedFiles].filter((f: { path: string }) => !f.path.includes("temporary-mutability"));
    for (const f of others) expect(f.reason).not.toMatch(/injected fault/);
    expect(s.files.processed + others.length).toBe(FILES.length - 1);
    expect(poisoned.stderr).toMatch(/quarantined rust-patterns\/idioms\/temporary-mutability\.txt: failed in the extractor node/);

    // Its contribution was never recorded as done: the next run (no fault) processes it, and only it.
    const again = await runInProcess("graph", args(input, out, db));
    expect(again.code, again.stderr).toBe(0);
    const s2 = summaryOf(again);
    expect(s2.files.unchanged).toBe(FILES.length - 1);
    expect([...s2.quarantinedFiles, ...s2.skipped].map((f: { reason: string }) => f.reason).join("\n")).not.toMatch(/injected fault/);
  });
});

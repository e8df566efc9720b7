/**
 * `npm run graph -- --watch` as a user runs it, with a real (tiny) model: the model is loaded once
 * for every run of the watch, a saved note starts a run that processes that note, and Ctrl-C while
 * waiting ends the process with exit 0 and no lock left behind.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli } from "../helpers/cli.ts";
import { sharedModel } from "../helpers/scriptedBackend.ts";

const MODEL = sharedModel("llama-2-tiny-random-chatml.gguf");

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kb-watch-cli-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("npm run graph -- --watch", () => {
  it("keeps the model loaded across runs, re-runs the saved note, and stops on Ctrl-C", async () => {
    const input = path.join(tmp, "notes");
    const out = path.join(tmp, "kb");
    fs.mkdirSync(input);
    fs.writeFileSync(
      path.join(input, "newtype.md"),
      "# Newtype\n\nWrap a value in a tuple struct to give it its own type.\n\n```rust\nstruct Meters(f64);\n```\n",
    );
    const cli = startCli("graph", [
      "--input",
      input,
      "--out",
      out,
      "--db",
      path.join(tmp, "runs.sqlite"),
      "--model",
      MODEL,
      "--threads",
      "1",
      "--concurrency",
      "1",
      "--no-llm-review",
      "--research",
      "input",
      "--max-tokens",
      "64",
      "--watch",
      "--json",
    ]);
    // The n-th event of a type (waitFor looks at the events so far, then at new ones).
    const nth = (type: string, n: number) => {
      let seen = 0;
      return (e: Record<string, unknown>) => e.type === type && ++seen === n;
    };
    await cli.waitFor(nth("watching", 1));
    fs.appendFileSync(path.join(input, "newtype.md"), "\nA newtype costs nothing at run time.\n");
    expect(await cli.waitFor(nth("summary", 2))).toMatchObject({ status: "done", files: { found: 1, unchanged: 0 } });
    await cli.waitFor(nth("watching", 2));
    cli.child.kill("SIGINT");
    const result = await cli.done;
    expect(result.code).toBe(0);
    const types = result.events.map((e) => e.type);
    expect(types.filter((t) => t === "model_loading")).toHaveLength(1);
    expect(types.filter((t) => t === "model_loaded")).toHaveLength(1);
    expect(types.filter((t) => t === "run_started")).toHaveLength(2);
    expect(result.events.find((e) => e.type === "watch_changes")).toMatchObject({ changes: [{ relPath: "newtype.md", kind: "changed" }] });
    expect(result.stderr).toMatch(/Stopped watching\.\n$/);
    expect(fs.existsSync(path.join(out, ".kb", "lock"))).toBe(false);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PipelineGraph } from "../../graphs/pipelineGraph.ts";
import type { PipelineStateType } from "../../graphs/state.ts";
import { makeStudioRun } from "../../nodes/studioRun.ts";
import { isUserError } from "../../src/errors.ts";
import { OutputLock } from "../../src/store/OutputLock.ts";
import {
  allowedOriginRegex,
  configWithOrigins,
  confineToRoots,
  isAllowedOrigin,
  parseOrigin,
  type RequestFacts,
  refuseRequest,
} from "../../src/studio/studioPolicy.ts";
import { REPO } from "../helpers/cli.ts";

const base: RequestFacts = {
  method: "POST",
  origin: undefined,
  host: "127.0.0.1:2124",
  contentType: "application/json",
  contentLength: "42",
  transferEncoding: undefined,
};

describe("which requests reach the Studio server's API", () => {
  it("lets the hosted Studio, localhost pages and non-browser clients through with JSON bodies", () => {
    expect(refuseRequest(base)).toBeUndefined();
    expect(refuseRequest({ ...base, origin: "https://smith.langchain.com" })).toBeUndefined();
    expect(refuseRequest({ ...base, origin: "http://localhost:5173", host: "localhost:2124" })).toBeUndefined();
    expect(refuseRequest({ ...base, contentType: "application/json; charset=utf-8" })).toBeUndefined();
    expect(refuseRequest({ ...base, method: "POST", contentType: undefined, contentLength: "0" })).toBeUndefined();
    expect(refuseRequest({ ...base, method: "GET", contentType: undefined, contentLength: undefined })).toBeUndefined();
  });

  it("refuses other origins (403), look-alikes included", () => {
    for (const origin of [
      "https://evil.example",
      "https://smith.langchain.com.evil.example",
      "http://smith.langchain.com",
      "null",
      "http://localhost.evil.example",
    ])
      expect(refuseRequest({ ...base, origin })?.status, origin).toBe(403);
    expect(refuseRequest({ ...base, origin: "https://studio.example.com" }, ["https://studio.example.com"])).toBeUndefined();
  });

  it("refuses text/plain, form and multipart bodies (415), which browsers send cross-origin without a preflight", () => {
    for (const contentType of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", undefined])
      expect(refuseRequest({ ...base, contentType })?.status, String(contentType)).toBe(415);
    expect(refuseRequest({ ...base, contentType: "text/plain", contentLength: undefined, transferEncoding: "chunked" })?.status).toBe(415);
  });

  it("refuses a Host that is not the loopback name (a DNS-rebinding page)", () => {
    expect(refuseRequest({ ...base, host: "evil.example:2124" })?.status).toBe(403);
    expect(refuseRequest({ ...base, host: undefined })?.status).toBe(403);
    expect(refuseRequest({ ...base, host: "[::1]:2124" })).toBeUndefined();
  });

  it("langgraph.json's CORS regex is the policy's (hosted Studio and localhost only)", () => {
    const config = JSON.parse(fs.readFileSync(path.join(REPO, "langgraph.json"), "utf8"));
    expect(config.http.cors.allow_origin_regex).toBe(allowedOriginRegex());
    expect(config.http.app).toBe("./cli/studioHttp.ts:app");
    expect(isAllowedOrigin("https://evil.example")).toBe(false);
    expect(() => parseOrigin("https://x.example/path")).toThrow(/not an origin/);
    expect(parseOrigin("https://x.example:8443/")).toBe("https://x.example:8443");
  });

  it("--allow-origin adds exactly that origin to a copy of the config, the rest unchanged", () => {
    const config = JSON.parse(fs.readFileSync(path.join(REPO, "langgraph.json"), "utf8"));
    const copy = configWithOrigins(config, ["https://studio.example.com"]);
    const regex = new RegExp(copy.http.cors.allow_origin_regex);
    expect(regex.test("https://studio.example.com")).toBe(true);
    expect(regex.test("https://smith.langchain.com")).toBe(true);
    expect(regex.test("https://studio.example.com.evil.example")).toBe(false);
    expect(regex.test("https://studioXexample.com")).toBe(false);
    expect(copy.http.app).toBe(config.http.app);
    expect(copy.graphs).toEqual(config.graphs);
    expect(config.http.cors.allow_origin_regex).toBe(allowedOriginRegex());
  });
});

describe("Studio runs stay inside the server's roots and take the output lock", () => {
  let tmp: string;
  let root: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-studio-"));
    root = path.join(tmp, "root");
    fs.mkdirSync(path.join(root, "notes"), { recursive: true });
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const codeOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return isUserError(e) ? e.code : String(e);
    }
    return undefined;
  };

  it("accepts directories under a root (relative ones against the first), refuses others, .. and symlinks out included", () => {
    expect(confineToRoots("notes", [root], "inputDir")).toBe(path.join(root, "notes"));
    expect(confineToRoots(path.join(root, "kb", "new"), [root], "outDir")).toBe(path.join(root, "kb", "new"));
    fs.symlinkSync(tmp, path.join(root, "escape"));
    for (const dir of ["/tmp/pwn-kb", path.join(root, "..", "x"), "../x", path.join(root, "escape", "x"), path.join(root, "escape")])
      expect(
        codeOf(() => confineToRoots(dir, [root], "outDir")),
        dir,
      ).toBe("PATH_OUTSIDE_ROOTS");
    expect(codeOf(() => confineToRoots(undefined, [root], "inputDir"))).toBe("USAGE");
  });

  function fakePipeline(onInvoke: (input: Record<string, unknown>) => void, fail = false): PipelineGraph {
    return {
      invoke: async (input: Record<string, unknown>) => {
        onInvoke(input);
        if (fail) throw new Error("pipeline failed");
        return { kb: { entries: 0, quarantined: 0 } };
      },
    } as unknown as PipelineGraph;
  }
  const config = { configurable: { thread_id: "studio-run-1" } } as LangGraphRunnableConfig;
  const state = (s: Partial<PipelineStateType>) => s as PipelineStateType;

  it("refuses a run whose outDir is outside the roots before anything is written", async () => {
    let invoked = false;
    const markInvoked = () => {
      invoked = true;
    };
    const run = makeStudioRun({ pipeline: fakePipeline(markInvoked), roots: [root], dbPath: path.join(tmp, "db.sqlite") });
    const outside = path.join(tmp, "pwn-kb");
    await expect(run(state({ inputDir: path.join(root, "notes"), outDir: outside }), config)).rejects.toMatchObject({ code: "PATH_OUTSIDE_ROOTS" });
    await expect(run(state({ inputDir: "/etc", outDir: path.join(root, "kb") }), config)).rejects.toMatchObject({ code: "PATH_OUTSIDE_ROOTS" });
    expect(invoked).toBe(false);
    expect(fs.existsSync(outside)).toBe(false);
    expect(fs.existsSync(path.join(root, "kb"))).toBe(false);
  });

  it("holds the output lock while the pipeline runs, releases it after (also on failure), and passes only the directories", async () => {
    const out = path.join(root, "kb");
    const db = path.join(tmp, "db.sqlite");
    const seen: Record<string, unknown>[] = [];
    const holders: (string | undefined)[] = [];
    const pipeline = (fail: boolean) =>
      fakePipeline((input) => {
        seen.push(input);
        // holder() ignores this process's own lock: read the lock file.
        const file = path.join(out, ".kb", "lock");
        holders.push(fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as { runId: string }).runId : undefined);
      }, fail);
    await makeStudioRun({ pipeline: pipeline(false), roots: [root], dbPath: db })(
      state({ inputDir: "notes", outDir: "kb", exclude: [], settings: null, maxFileBytes: 1 }),
      config,
    );
    expect(holders).toEqual(["studio-run-1"]);
    expect(fs.existsSync(path.join(out, ".kb", "lock"))).toBe(false);
    expect(seen[0]).toEqual({ inputDir: path.join(root, "notes"), outDir: out, exclude: [db, `${db}-wal`, `${db}-shm`, out], force: false });
    await expect(makeStudioRun({ pipeline: pipeline(true), roots: [root], dbPath: db })(state({ inputDir: "notes", outDir: "kb" }), config)).rejects.toThrow(
      "pipeline failed",
    );
    expect(holders).toEqual(["studio-run-1", "studio-run-1"]);
    expect(fs.existsSync(path.join(out, ".kb", "lock"))).toBe(false);
  });

  it("refuses a run while another writer holds the output directory", async () => {
    const out = path.join(root, "kb");
    fs.mkdirSync(out);
    const lock = OutputLock.acquire(out, { runId: "cli-run", db: "x" });
    try {
      const run = makeStudioRun({ pipeline: fakePipeline(() => {}), roots: [root], dbPath: path.join(tmp, "db.sqlite") });
      await expect(run(state({ inputDir: "notes", outDir: "kb" }), config)).rejects.toMatchObject({ code: "RUN_LOCKED" });
    } finally {
      lock.release();
    }
  });
});

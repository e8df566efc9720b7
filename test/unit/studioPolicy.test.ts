import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseStudioArgs } from "../../src/commands/studio/parseStudioArgs.ts";
import { refusePathEdits } from "../../src/commands/studio/servedGraph.ts";
import { confineToRoots, isAllowedOrigin, parseOrigin, type RequestFacts, refuseRequest } from "../../src/commands/studio/studioPolicy.ts";
import { isUserError } from "../../src/errors.ts";

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

  it("reads origins exactly: look-alikes and paths are not origins", () => {
    expect(isAllowedOrigin("https://evil.example")).toBe(false);
    expect(isAllowedOrigin("https://studio.example.com", ["https://studio.example.com"])).toBe(true);
    expect(isAllowedOrigin("https://studio.example.com.evil.example", ["https://studio.example.com"])).toBe(false);
    expect(isAllowedOrigin("https://studioXexample.com", ["https://studio.example.com"])).toBe(false);
    expect(() => parseOrigin("https://x.example/path")).toThrow(/not an origin/);
    expect(parseOrigin("https://x.example:8443/")).toBe("https://x.example:8443");
  });
});

describe("Studio runs stay inside the server's roots and never pick paths by editing state", () => {
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

  it("refuses a dangling or looping link under a root (not a name to create), and returns the real path it checked (issue 23)", () => {
    // A dangling link: `mkdir -p` would follow it wherever it points once its target appears.
    fs.symlinkSync(path.join(tmp, "outside-later"), path.join(root, "dangling"));
    fs.symlinkSync(path.join(root, "loop-b"), path.join(root, "loop-a"));
    fs.symlinkSync(path.join(root, "loop-a"), path.join(root, "loop-b"));
    for (const dir of ["dangling", path.join(root, "dangling"), path.join(root, "dangling", "kb"), "loop-a", path.join("loop-a", "kb")])
      expect(
        codeOf(() => confineToRoots(dir, [root], "outDir")),
        dir,
      ).toBe("PATH_OUTSIDE_ROOTS");
    expect(fs.existsSync(path.join(tmp, "outside-later"))).toBe(false);
    // A link that stays inside is followed, and the run gets the path that was checked.
    fs.mkdirSync(path.join(root, "real-kb"));
    fs.symlinkSync(path.join(root, "real-kb"), path.join(root, "kb-link"));
    expect(confineToRoots("kb-link", [root], "outDir")).toBe(path.join(fs.realpathSync(root), "real-kb"));
    expect(confineToRoots(path.join("kb-link", "new"), [root], "outDir")).toBe(path.join(fs.realpathSync(root), "real-kb", "new"));
    // A root given through a link counts by its real path too.
    fs.symlinkSync(root, path.join(tmp, "root-link"));
    expect(confineToRoots("notes", [path.join(tmp, "root-link")], "inputDir")).toBe(path.join(fs.realpathSync(root), "notes"));
  });

  it("refuses state edits that name a path, at the top level and in a file's subgraph", () => {
    expect(codeOf(() => refusePathEdits({ outDir: "/tmp/elsewhere" }))).toBe("USAGE");
    expect(codeOf(() => refusePathEdits({ inputDir: "/etc" }))).toBe("USAGE");
    expect(codeOf(() => refusePathEdits({ exclude: [] }))).toBe("USAGE");
    expect(codeOf(() => refusePathEdits([{ round: 1 }, { outDir: "x" }]))).toBe("USAGE");
    expect(codeOf(() => refusePathEdits({ verdicts: {}, round: 0, force: true }))).toBeUndefined();
  });
});

describe("npm run studio's arguments", () => {
  it("defaults to the CLI's run database and port 2124, and takes roots, origins and model options", () => {
    expect(parseStudioArgs([])).toEqual({ kind: "run", options: { db: "checkpoints/runs.sqlite", port: 2124, roots: [], allowOrigins: [], compact: false } });
    const parsed = parseStudioArgs([
      "--db",
      "x.sqlite",
      "--port",
      "0",
      "--root",
      "a",
      "--root",
      "b",
      "--allow-origin",
      "https://s.example",
      "--model",
      "m.gguf",
      "--threads",
      "2",
    ]);
    expect(parsed).toEqual({
      kind: "run",
      options: { db: "x.sqlite", port: 0, roots: ["a", "b"], allowOrigins: ["https://s.example"], compact: false, model: "m.gguf", threads: 2 },
    });
    expect(parseStudioArgs(["--port", "http"]).kind).toBe("error");
    expect(parseStudioArgs(["--endpoint-model", "x"]).kind).toBe("error");
    expect(parseStudioArgs(["--bogus"]).kind).toBe("error");
    expect(parseStudioArgs(["-h"]).kind).toBe("help");
  });
});

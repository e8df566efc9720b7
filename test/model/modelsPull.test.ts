/**
 * `pull` against a loopback HTTP server (127.0.0.1 only) that serves a small GGUF the way a model
 * hub does (GET with Range, Accept-Ranges, Content-Length, HEAD) and can cut, throttle or 404:
 * progress events, resume after an interruption, a cut connection, checksum mismatch, 404,
 * unreachable and offline, and the CLI end to end (progress on stderr, Ctrl-C, resume).
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Catalog, type CatalogEntry, loadCatalog, parseCatalog } from "../../src/commands/models/catalog.ts";
import { pullModel } from "../../src/commands/models/pull.ts";
import { isUserError } from "../../src/errors.ts";
import { REPO, startCli } from "../helpers/cli.ts";

const MB = 1024 * 1024;
/** ipull (node-llama-cpp's downloader) saves progress per completed 5 MiB chunk: the file spans five. */
const FILE_BYTES = 24 * MB;

interface ServedRequest {
  method: string;
  url: string;
  range: string | undefined;
  /** First byte asked for (0 without a Range header). */
  start: number;
}

interface ModelServerOptions {
  /** Files by URL path, e.g. { "/m/model.gguf": bytes }. */
  files: Record<string, Buffer>;
  /** Cut the response (destroy the socket) after this many body bytes, for the first `cutTimes` GETs that start at byte 0. */
  cutAfterBytes?: number;
  cutTimes?: number;
  /** Send the body in chunks of this many bytes with `delayMs` between them. */
  chunkBytes?: number;
  delayMs?: number;
}

interface ModelServer {
  url: string;
  requests: ServedRequest[];
  /** Change behaviour between requests (e.g. stop throttling). */
  options: ModelServerOptions;
  close(): Promise<void>;
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return start <= end ? { start, end } : undefined;
}

async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  const requests: ServedRequest[] = [];
  let cutsLeft = options.cutTimes ?? (options.cutAfterBytes !== undefined ? 1 : 0);
  const server = http.createServer((req, res) => {
    const urlPath = (req.url ?? "/").split("?")[0] ?? "/";
    const range = req.headers.range;
    const file = options.files[urlPath];
    const size = file?.length ?? 0;
    const r = parseRange(range, size);
    requests.push({ method: req.method ?? "GET", url: urlPath, range, start: r?.start ?? 0 });
    if (!file) {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
      return;
    }
    const start = r?.start ?? 0;
    const end = r?.end ?? size - 1;
    const headers: http.OutgoingHttpHeaders = {
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
      "content-length": String(end - start + 1),
    };
    if (r) headers["content-range"] = `bytes ${start}-${end}/${size}`;
    res.writeHead(r ? 206 : 200, headers);
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const body = file.subarray(start, end + 1);
    const cut = req.method === "GET" && start === 0 && cutsLeft > 0 && options.cutAfterBytes !== undefined && r !== undefined;
    if (cut) cutsLeft--;
    const limit = cut ? Math.min(options.cutAfterBytes ?? body.length, body.length) : body.length;
    const chunk = options.chunkBytes ?? 256 * 1024;
    let offset = 0;
    const pump = () => {
      if (res.destroyed) return;
      if (offset >= limit) {
        if (cut) req.socket.destroy();
        else res.end();
        return;
      }
      const next = Math.min(limit, offset + chunk);
      const ok = res.write(body.subarray(offset, next));
      offset = next;
      const go = () => (options.delayMs ? setTimeout(pump, options.delayMs) : setImmediate(pump));
      if (ok) go();
      else res.once("drain", go);
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    options,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let tmp: string;
let file: Buffer;
let sha: string;
const servers: ModelServer[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "models-pull-"));
  // A real tiny GGUF (its header is what inspect reads) padded with deterministic bytes to 24 MiB.
  const base = fs.readFileSync(path.join(REPO, "../shared/models/stories260K.gguf"));
  const pad = Buffer.alloc(FILE_BYTES - base.length);
  let x = 1;
  for (let i = 0; i < pad.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    pad[i] = x >>> 24;
  }
  file = Buffer.concat([base, pad]);
  sha = createHash("sha256").update(file).digest("hex");
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function serve(options: Omit<ModelServerOptions, "files"> = {}): Promise<ModelServer> {
  const s = await startModelServer({ files: { "/m/model.gguf": file }, ...options });
  servers.push(s);
  return s;
}

function dirFor(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** A catalog with one entry pointing at the loopback server. */
function catalogFor(url: string, sha256: string | null = sha): Catalog {
  const base = loadCatalog().models[0] as CatalogEntry;
  return parseCatalog({
    version: 1,
    models: [
      {
        ...base,
        name: "loopback-model",
        uri: url,
        fileName: "model.gguf",
        sizeBytes: null,
        approxSizeMB: 25,
        outsideBudget: true,
        sha256,
        provenance: { size: "test", sha256: sha256 ? "test" : null, specs: "test" },
      },
    ],
  });
}

function listing(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

function requestedBytes(requests: readonly ServedRequest[]): number {
  return requests
    .filter((r) => r.method === "GET" && r.range)
    .reduce((a, r) => {
      const m = /bytes=(\d+)-(\d+)/.exec(r.range ?? "");
      return a + (m ? Number(m[2]) - Number(m[1]) + 1 : 0);
    }, 0);
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/** Waits until the file's size has not changed for 300 ms (the downloader flushes after a cancel). */
async function settled(p: string): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const size = fs.statSync(p, { throwIfNoEntry: false })?.size ?? -1;
    if (size === last && size > 0) return size;
    last = size;
    await new Promise((r) => setTimeout(r, 300));
  }
  return last;
}

describe("pull from a loopback server", () => {
  it("downloads with progress events into the models directory and checks the catalog's sha256", async () => {
    const s = await serve();
    const url = `${s.url}/m/model.gguf`;
    const dir = dirFor("ok");
    const events: { downloadedBytes: number; totalBytes: number }[] = [];
    const starts: unknown[] = [];
    const r = await pullModel("loopback-model", {
      catalog: catalogFor(url),
      directory: dir,
      onStart: (i) => starts.push(i),
      onProgress: (e) => events.push(e),
    });
    expect(r.path).toBe(path.join(dir, "model.gguf"));
    expect(r.alreadyPresent).toBe(false);
    expect(r.sha256).toBe(sha);
    expect(r.checks).toContain("sha256 = catalog");
    expect(starts).toEqual([{ fileName: "model.gguf", totalBytes: FILE_BYTES, resumedFromBytes: 0 }]);
    expect(events.length).toBeGreaterThan(2);
    expect(events.every((e) => e.totalBytes === FILE_BYTES)).toBe(true);
    expect(events.at(-1)?.downloadedBytes).toBe(FILE_BYTES);
    expect(createHash("sha256").update(fs.readFileSync(r.path)).digest("hex")).toBe(sha);
    expect((await readGgufFileInfo(r.path, { logWarnings: false })).metadata.general.architecture).toBe("llama");
    expect(listing(dir)).toEqual([".partial", "model.gguf"]);

    // A second pull finds the file, verifies it and downloads nothing.
    const before = s.requests.length;
    const again = await pullModel("loopback-model", { catalog: catalogFor(url), directory: dir });
    expect(again.alreadyPresent).toBe(true);
    expect(again.checks).toContain("sha256 = catalog");
    expect(s.requests.length).toBe(before);
  });

  it("resumes an interrupted download instead of starting over", async () => {
    const slow = await serve({ chunkBytes: 256 * 1024, delayMs: 15 });
    const dir = dirFor("resume");
    const abort = new AbortController();
    const first = await caught(
      pullModel(`${slow.url}/m/model.gguf`, {
        catalog: loadCatalog(),
        directory: dir,
        signal: abort.signal,
        onProgress: (e) => {
          if (e.downloadedBytes > 13 * MB) abort.abort(new Error("test interrupt"));
        },
      }),
    );
    expect((first as Error).message).toBe("test interrupt");
    expect(fs.existsSync(path.join(dir, "model.gguf"))).toBe(false);
    const kept = await settled(path.join(dir, ".partial", "model.gguf.ipull"));
    expect(kept).toBeGreaterThan(5 * MB);
    await slow.close();

    // A fresh server, so that only the second attempt's requests are counted.
    const s = await serve();
    const r = await pullModel(`${s.url}/m/model.gguf`, { catalog: loadCatalog(), directory: dir });
    expect(r.resumedFromBytes).toBeGreaterThanOrEqual(5 * MB);
    const asked = requestedBytes(s.requests);
    expect(asked).toBeGreaterThan(0);
    expect(asked).toBeLessThan(FILE_BYTES);
    expect(createHash("sha256").update(fs.readFileSync(r.path)).digest("hex")).toBe(sha);
    expect(listing(dir)).toEqual([".partial", "model.gguf"]);
  });

  it("gets past a connection cut mid-file (the downloader retries from the last chunk)", async () => {
    const s = await serve({ cutAfterBytes: 2 * MB, cutTimes: 1 });
    const url = `${s.url}/m/model.gguf`;
    const dir = dirFor("cut");
    const r = await pullModel(url, { catalog: catalogFor(url), directory: dir });
    expect(createHash("sha256").update(fs.readFileSync(r.path)).digest("hex")).toBe(sha);
    const fromZero = s.requests.filter((q) => q.method === "GET" && q.range?.startsWith("bytes=0-"));
    expect(fromZero.length).toBe(2);
  });

  it("rejects a checksum mismatch and leaves nothing under the final name", async () => {
    const s = await serve();
    const url = `${s.url}/m/model.gguf`;
    const dir = dirFor("mismatch");
    const e = await caught(pullModel("loopback-model", { catalog: catalogFor(url, "0".repeat(64)), directory: dir }));
    expect(isUserError(e) && e.code).toBe("MODEL_VERIFY_FAILED");
    expect((e as Error).message).toContain(`is ${sha}, but the catalog says ${"0".repeat(64)}`);
    expect(listing(dir)).toEqual([".partial"]);

    // --no-checksum takes it (the size is still checked against the server).
    const r = await pullModel("loopback-model", { catalog: catalogFor(url, "0".repeat(64)), directory: dir, checksum: false });
    expect(r.checks).toEqual([
      `size 24.00 MiB = the server's`,
      "size 25 MB within 10% of the catalog's approximate 25 MB (no exact size in the catalog)",
      "sha256 not checked (--no-checksum)",
    ]);
  });

  it("refuses an existing file that fails the check without touching it", async () => {
    const s = await serve();
    const url = `${s.url}/m/model.gguf`;
    const dir = dirFor("existing-bad");
    fs.writeFileSync(path.join(dir, "model.gguf"), "not the model");
    const e = await caught(pullModel("loopback-model", { catalog: catalogFor(url), directory: dir }));
    expect(isUserError(e) && e.code).toBe("MODEL_VERIFY_FAILED");
    expect(isUserError(e) && e.hint).toContain(`Delete ${path.join(dir, "model.gguf")} and pull again`);
    expect(fs.readFileSync(path.join(dir, "model.gguf"), "utf8")).toBe("not the model");
  });

  it("says the host has no such file on a 404, and writes nothing", async () => {
    const s = await serve();
    const dir = dirFor("404");
    const e = await caught(pullModel(`${s.url}/m/missing.gguf`, { catalog: loadCatalog(), directory: dir }));
    expect(isUserError(e) && e.code).toBe("MODEL_DOWNLOAD_FAILED");
    expect(isUserError(e) && e.hint).toMatch(/The host has no such file/);
    expect(listing(dir).filter((f) => f !== ".partial")).toEqual([]);
  });

  it("fails at once with what to do when the host is unreachable or RUST_KB_OFFLINE is set", async () => {
    const closed = await serve();
    const url = `${closed.url}/m/model.gguf`;
    await closed.close();
    servers.splice(servers.indexOf(closed), 1);
    const dir = dirFor("offline");
    const t0 = Date.now();
    const e = await caught(pullModel(url, { catalog: loadCatalog(), directory: dir, probeTimeoutMs: 2000 }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(isUserError(e) && e.code).toBe("MODEL_HOST_UNREACHABLE");
    expect(isUserError(e) && e.hint).toContain(`download ${url}`);
    expect(listing(dir)).toEqual([]);

    let probed = false;
    const off = await caught(
      pullModel("qwen3-0.6b-q8_0", {
        catalog: loadCatalog(),
        directory: dir,
        offline: true,
        probe: async () => {
          probed = true;
          return true;
        },
      }),
    );
    expect(isUserError(off) && off.code).toBe("MODEL_HOST_UNREACHABLE");
    expect(isUserError(off) && off.hint).toContain("https://huggingface.co/Qwen/Qwen3-0.6B-GGUF/resolve/main/Qwen3-0.6B-Q8_0.gguf");
    expect(probed).toBe(false);
  });
});

describe("npm run models -- pull (CLI)", () => {
  it("shows progress on stderr, stops on Ctrl-C keeping the partial file, and resumes", async () => {
    const s = await serve({ chunkBytes: 256 * 1024, delayMs: 15 });
    const url = `${s.url}/m/model.gguf`;
    const dir = dirFor("cli");
    const run = startCli("models", ["pull", url, "--dir", dir]);
    const ipull = path.join(dir, ".partial", "model.gguf.ipull");
    for (let i = 0; i < 300 && (fs.statSync(ipull, { throwIfNoEntry: false })?.size ?? 0) < 5 * MB; i++) await new Promise((r) => setTimeout(r, 100));
    run.child.kill("SIGINT");
    const first = await run.done;
    expect(first.code).toBe(130);
    expect(first.stderr).toMatch(/Downloading model\.gguf \(24\.00 MiB\) to /);
    expect(first.stderr).toMatch(/\[#*-*\] +\d+% +[\d.]+ [KM]iB \/ 24\.00 MiB/);
    expect(first.stderr).toContain("Interrupted. The partial download is kept in");
    expect(fs.existsSync(path.join(dir, "model.gguf"))).toBe(false);

    s.options.delayMs = 0;
    const second = await startCli("models", ["pull", url, "--dir", dir]).done;
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/Resuming: [\d.]+ MiB were already downloaded/);
    expect(second.stderr).toContain("100%");
    expect(second.stdout).toContain(`Downloaded: ${path.join(dir, "model.gguf")} (24.00 MiB)`);
    expect(
      createHash("sha256")
        .update(fs.readFileSync(path.join(dir, "model.gguf")))
        .digest("hex"),
    ).toBe(sha);
  });

  it("exits 1 with the error code and a hint when offline", async () => {
    const r = await startCli("models", ["pull", "qwen3-0.6b-q8_0", "--dir", dirFor("cli-offline")], { env: { RUST_KB_OFFLINE: "1" } }).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error \[MODEL_HOST_UNREACHABLE\]: RUST_KB_OFFLINE is set/);
    expect(r.stderr).toContain("Unset RUST_KB_OFFLINE");
  });
});

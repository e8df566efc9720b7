/**
 * Finds llama.cpp's own tools (llama-server, llama-quantize, ...) built from the llama.cpp source
 * that the installed node-llama-cpp ships. Production code never depends on bench/: the places
 * looked in are, in order,
 *
 *   1. an explicit path (RUST_KB_LLAMA_SERVER for llama-server, passed in by the caller);
 *   2. the per-user cache `scripts/buildLlamaServer.sh` fills (`npm install` runs it once, through
 *      scripts/installLlamaServer.ts), keyed by the bundle's commit:
 *      `${XDG_CACHE_HOME:-~/.cache}/rust-kb-pipeline/llama.cpp/<commit>/bin/<tool>`;
 *   3. `bench/.build/bin/<tool>` (a developer's `bash bench/llamacpp/build.sh`);
 *   4. PATH.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readEnv } from "../config/env.ts";
import { findOnPath, isExecutableFile } from "./findOnPath.ts";

/** Repository root (this file is src/util/llamaCppTools.ts). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Where bench/llamacpp/build.sh puts llama.cpp's tools (a developer build). */
export const BENCH_BIN_DIR = path.join(REPO_ROOT, "bench", ".build", "bin");

/** The llama.cpp source node-llama-cpp ships (a git bundle). */
const LLAMA_CPP_BUNDLE = path.join(REPO_ROOT, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");

/** The commit the bundle's HEAD points at, read from the bundle's text header; undefined without the bundle. */
export function bundleCommit(bundle: string = LLAMA_CPP_BUNDLE): string | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(bundle, "r");
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const m = /^([0-9a-f]{40}) HEAD$/m.exec(buf.subarray(0, n).toString("latin1"));
    return m?.[1];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The cache folder for the installed bundle's build: `<cache root>/<commit>`. */
function llamaCppCacheDir(cacheRoot: string = readEnv().llamaCppCache, bundle: string = LLAMA_CPP_BUNDLE): string | undefined {
  const commit = bundleCommit(bundle);
  return commit ? path.join(cacheRoot, commit) : undefined;
}

export interface FindToolOptions {
  /** An explicit path (checked first; returned even when missing, so the caller can say it is missing). */
  explicit?: string;
  /** Cache root (default from the environment: `${XDG_CACHE_HOME:-~/.cache}/rust-kb-pipeline/llama.cpp`). */
  cacheRoot?: string;
  /** Developer build folder (default bench/.build/bin). */
  benchBinDir?: string;
  /** Search PATH too (default true). */
  searchPath?: boolean;
}

/** The places `findLlamaCppTool` looks in, in words (for error messages). */
export function toolSearchDescription(): string {
  return "RUST_KB_LLAMA_SERVER, the build cache (~/.cache/rust-kb-pipeline/llama.cpp/<commit>/bin, filled once by `npm install` or `bash scripts/buildLlamaServer.sh`), bench/.build/bin and PATH";
}

/** Where a tool was found: the explicit path, the build cache, bench/.build/bin or a PATH folder. */
export type ToolOrigin = "explicit" | "build cache" | "bench/.build" | "PATH";

export interface LocatedTool {
  path: string;
  origin: ToolOrigin;
}

/** Path of a built llama.cpp tool and where it was found, or undefined when none is found. */
export function locateLlamaCppTool(name: string, options: FindToolOptions = {}): LocatedTool | undefined {
  if (options.explicit !== undefined) return { path: options.explicit, origin: "explicit" };
  const cacheDir = llamaCppCacheDir(options.cacheRoot ?? readEnv().llamaCppCache);
  const candidates: LocatedTool[] = [
    ...(cacheDir ? [{ path: path.join(cacheDir, "bin", name), origin: "build cache" as const }] : []),
    { path: path.join(options.benchBinDir ?? BENCH_BIN_DIR, name), origin: "bench/.build" },
  ];
  for (const c of candidates) if (isExecutableFile(c.path)) return c;
  if (options.searchPath === false) return undefined;
  const onPath = findOnPath(name);
  return onPath === undefined ? undefined : { path: onPath, origin: "PATH" };
}

/** Path of a built llama.cpp tool, or undefined when none is found. */
export function findLlamaCppTool(name: string, options: FindToolOptions | string = {}): string | undefined {
  return locateLlamaCppTool(name, typeof options === "string" ? { benchBinDir: options } : options)?.path;
}

/**
 * Where a path given from outside (RUST_KB_LLAMA_SERVER, a test) lies: in the build cache or
 * bench/.build/bin it is named so; anything else counts as explicit.
 */
export function originOf(file: string, options: Pick<FindToolOptions, "cacheRoot" | "benchBinDir"> = {}): ToolOrigin {
  const dir = path.dirname(path.resolve(file));
  const cacheDir = llamaCppCacheDir(options.cacheRoot ?? readEnv().llamaCppCache);
  if (cacheDir && dir === path.join(cacheDir, "bin")) return "build cache";
  if (dir === path.resolve(options.benchBinDir ?? BENCH_BIN_DIR)) return "bench/.build";
  return "explicit";
}

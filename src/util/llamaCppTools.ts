/**
 * Finds llama.cpp's own tools (llama-server, llama-quantize, ...) built from the llama.cpp source
 * that the installed node-llama-cpp ships. The caller says where to look (it has read the
 * environment: src/config/env.ts); the places looked in are, in order,
 *
 *   1. an explicit path (RUST_KB_LLAMA_SERVER for llama-server, passed in by the caller);
 *   2. the per-user cache `scripts/buildLlamaServer.sh` fills (`npm install` runs it once, through
 *      scripts/installLlamaServer.ts), keyed by the bundle's commit:
 *      `<cacheRoot>/<commit>/bin/<tool>`, cacheRoot being `Env.llamaCppCache`
 *      (`${XDG_CACHE_HOME:-~/.cache}/rust-kb-pipeline/llama.cpp`);
 *   3. folders the caller adds (`binDirs`: the benches add bench/.build/bin, a developer's
 *      `bash bench/llamacpp/build.sh`; a run adds none, so production never looks under bench/);
 *   4. PATH.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findOnPath, isExecutableFile } from "./findOnPath.ts";

/** Repository root (this file is src/util/llamaCppTools.ts). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

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
function llamaCppCacheDir(cacheRoot: string, bundle: string = LLAMA_CPP_BUNDLE): string | undefined {
  const commit = bundleCommit(bundle);
  return commit ? path.join(cacheRoot, commit) : undefined;
}

/** Where to look for a tool, from the caller. */
export interface ToolSearch {
  /** The build cache's root: `Env.llamaCppCache` (`${XDG_CACHE_HOME:-~/.cache}/rust-kb-pipeline/llama.cpp`). */
  cacheRoot: string;
  /** Folders looked in after the build cache (the benches add bench/.build/bin); none by default. */
  binDirs?: readonly string[];
  /** Search PATH too (default true). */
  searchPath?: boolean;
}

export interface FindToolOptions extends ToolSearch {
  /** An explicit path (checked first; returned even when missing, so the caller can say it is missing). */
  explicit?: string;
}

/** The places a search looks in, in words (for error messages). */
export function toolSearchDescription(search: ToolSearch): string {
  const places = [
    `the build cache (${path.join(search.cacheRoot, "<commit>", "bin")}, filled once by \`npm install\` or \`bash scripts/buildLlamaServer.sh\`)`,
    ...(search.binDirs ?? []),
    ...(search.searchPath === false ? [] : ["PATH"]),
  ];
  return places.length === 1 ? (places[0] ?? "") : `${places.slice(0, -1).join(", ")} and ${places.at(-1)}`;
}

/** Where a tool was found: the explicit path, the build cache, a folder the caller added or a PATH folder. */
export type ToolOrigin = "explicit" | "build cache" | "build folder" | "PATH";

export interface LocatedTool {
  path: string;
  origin: ToolOrigin;
}

/** Path of a built llama.cpp tool and where it was found, or undefined when none is found. */
export function locateLlamaCppTool(name: string, options: FindToolOptions): LocatedTool | undefined {
  if (options.explicit !== undefined) return { path: options.explicit, origin: "explicit" };
  const cacheDir = llamaCppCacheDir(options.cacheRoot);
  const candidates: LocatedTool[] = [
    ...(cacheDir ? [{ path: path.join(cacheDir, "bin", name), origin: "build cache" as const }] : []),
    ...(options.binDirs ?? []).map((dir) => ({ path: path.join(dir, name), origin: "build folder" as const })),
  ];
  for (const c of candidates) if (isExecutableFile(c.path)) return c;
  if (options.searchPath === false) return undefined;
  const onPath = findOnPath(name);
  return onPath === undefined ? undefined : { path: onPath, origin: "PATH" };
}

/** Path of a built llama.cpp tool, or undefined when none is found. */
export function findLlamaCppTool(name: string, options: FindToolOptions): string | undefined {
  return locateLlamaCppTool(name, options)?.path;
}

/**
 * Where a path given from outside (RUST_KB_LLAMA_SERVER, a test) lies: in the build cache or one
 * of the search's folders it is named so; anything else counts as explicit.
 */
export function originOf(file: string, search: Pick<ToolSearch, "cacheRoot" | "binDirs">): ToolOrigin {
  const dir = path.dirname(path.resolve(file));
  const cacheDir = llamaCppCacheDir(search.cacheRoot);
  if (cacheDir && dir === path.join(cacheDir, "bin")) return "build cache";
  if ((search.binDirs ?? []).some((d) => dir === path.resolve(d))) return "build folder";
  return "explicit";
}

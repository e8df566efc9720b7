import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is src/util/nodeEntry.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Node arguments that run a TypeScript entry point of this repository the way the npm scripts do:
 * cli/threadpool.cjs preloaded (libuv's pool size is fixed before tsx starts), then tsx.
 */
export function tsxEntryArgs(script: string, ...args: string[]): string[] {
  return ["--require", path.join(REPO_ROOT, "cli", "threadpool.cjs"), "--import", "tsx", path.resolve(REPO_ROOT, script), ...args];
}

/**
 * Where a file the tool records as its own (a knowledge-base page, a site file) may be written or
 * removed: `rel` under `root`, only when it stays inside `root` once links are followed. The
 * record is data that can be wrong (a folder replaced by a link since, an entry `.`, `..` or
 * absolute in a hand-edited manifest): a path that leaves the root, goes through a link that
 * dangles, names the root itself or something that is not a regular file (a link, a directory, a
 * FIFO) gets undefined, and the caller leaves it alone. The path returned is the one checked: the
 * real folder joined with the file's name.
 */
import fs from "node:fs";
import path from "node:path";
import { isInside, realPathOf } from "./realPathOf.ts";

export function ownedPath(root: string, rel: string): string | undefined {
  const parts = rel.split(/[\\/]/);
  if (rel === "" || path.isAbsolute(rel) || parts.some((p) => p === "" || p === "." || p === "..")) return undefined;
  const realRoot = realPathOf(root);
  const folder = realPathOf(path.join(root, ...parts.slice(0, -1)));
  if (realRoot === undefined || folder === undefined || !isInside(folder, realRoot)) return undefined;
  const full = path.join(folder, parts[parts.length - 1] as string);
  const st = fs.lstatSync(full, { throwIfNoEntry: false });
  return st === undefined || st.isFile() ? full : undefined;
}

/**
 * Where a path really leads, for promises that depend on it ("the output is not inside the
 * input", "this run stays under the Studio roots", "this removal stays inside the site"): symbolic
 * links resolved, also for a path that does not exist yet (its deepest existing part resolved, the
 * rest appended, as it will be created). A link that dangles or loops on the way has no real
 * path: undefined, so the caller refuses it instead of taking it for a name not created yet (a
 * later `mkdir -p` or write would follow the link wherever it points by then).
 */
import fs from "node:fs";
import path from "node:path";

export function realPathOf(p: string): string | undefined {
  let existing = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      fs.lstatSync(existing); // the entry itself: a dangling link is found here, not skipped
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") return undefined; // ELOOP, EACCES, …: no honest answer
    }
    const parent = path.dirname(existing);
    if (parent === existing) break;
    rest.unshift(path.basename(existing));
    existing = parent;
  }
  try {
    return path.join(fs.realpathSync(existing), ...rest);
  } catch {
    return undefined; // a dangling link (ENOENT) or a loop (ELOOP)
  }
}

/** Whether `child` is `parent` or lies under it (both absolute and already resolved). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel));
}

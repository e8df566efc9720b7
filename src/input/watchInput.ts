/**
 * Watches an input directory for `npm run graph -- --watch`: changes to the files discovery reads
 * (and to directories, which may hold them), collected until the input is quiet for a moment, then
 * reported as one batch.
 *
 * Node's own recursive `fs.watch` (Linux since Node 20, macOS and Windows natively), not a library:
 * the watcher only says *when* to run again — discovery then compares every file's content hash
 * with the ledger and decides *what* changed — so the usual reasons for chokidar (atomic saves seen
 * as unlink + add, duplicate events, write-in-progress) cost nothing here: the debounce folds an
 * editor's save into one batch and an unchanged file is not processed again. chokidar 5 needs Node
 * >= 20.19 and 6 needs >= 22.22, where this package supports 20.10; @parcel/watcher is a native
 * build. What a watcher can miss (a directory created and filled before its watch is set up, a
 * network file system without change notifications) is picked up by the next batch, whose run
 * rescans the whole input.
 */
import fs from "node:fs";
import path from "node:path";
import { inputNameKind } from "./scanInput.ts";

export interface InputChange {
  /** Path relative to the input directory, `/`-separated. */
  relPath: string;
  /** Whether the path is there now ("changed": written, added or moved in) or not ("removed"). */
  kind: "changed" | "removed";
}

export interface WatchInputOptions {
  /** Quiet time after the last event before a batch is reported. */
  debounceMs: number;
  /** A batch is reported at the latest this long after its first event, even if events keep coming. */
  maxWaitMs: number;
  /** Absolute paths whose changes are not the input's (the run database when it lies inside the input). */
  exclude?: readonly string[];
  onChanges: (changes: InputChange[]) => void;
  /** The watch failed (the input directory went away, the system's watch limit): no more batches come. */
  onError: (error: Error) => void;
}

export interface InputWatcher {
  close(): void;
}

export function watchInput(root: string, options: WatchInputOptions): InputWatcher {
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let firstAt = 0;
  const exclude = (options.exclude ?? []).map((p) => path.resolve(p));
  const flush = () => {
    timer = undefined;
    const paths = [...pending].sort();
    // A folder whose files are listed is said by its files.
    const changes = paths
      .filter((p) => !paths.some((q) => q.startsWith(`${p}/`)))
      .map((relPath): InputChange => ({ relPath, kind: fs.existsSync(path.join(root, relPath)) ? "changed" : "removed" }));
    pending.clear();
    if (changes.length > 0) options.onChanges(changes);
  };
  const watcher = fs.watch(root, { recursive: true }, (_event, name) => {
    const rel = name === null ? "." : String(name).split(path.sep).join("/");
    if (!isRelevant(root, rel, exclude)) return;
    if (pending.size === 0) firstAt = Date.now();
    pending.add(rel);
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, Math.max(0, Math.min(options.debounceMs, firstAt + options.maxWaitMs - Date.now())));
  });
  watcher.on("error", (e) => options.onError(e));
  return {
    close: () => {
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}

/**
 * Whether a changed path may matter to discovery: a file of an input format, or a directory (a
 * folder of notes added, moved or removed reports only the folder). Editors' swap and backup
 * files, other files, tool folders (.git, node_modules) and excluded paths do not.
 */
function isRelevant(root: string, rel: string, exclude: readonly string[]): boolean {
  const parts = rel.split("/");
  if (parts.some((p) => inputNameKind(p) === "skipped-dir")) return false;
  const abs = path.join(root, rel);
  if (exclude.some((x) => abs === x || abs.startsWith(`${x}${path.sep}`))) return false;
  if (inputNameKind(parts[parts.length - 1] ?? "") === "file") return true;
  const st = fs.statSync(abs, { throwIfNoEntry: false });
  // Gone: a removed folder has no extension; a removed swap file (x.md.swp, 4913 aside) has one.
  return st ? st.isDirectory() : path.extname(rel) === "";
}

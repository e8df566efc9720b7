/**
 * The docs research of a run: the Rust documentation (rustup's rust-docs) and `--library` folders,
 * indexed into the docs index file (built or brought up to date here, with progress messages).
 */
import path from "node:path";
import { UserError } from "../errors.ts";
import { type IndexProgress, LocalDocsIndex, type RootReport } from "./LocalDocsIndex.ts";
import { type DocsRoot, findRustDocsDir, libraryRoot, rustDocRoots } from "./rustDocs.ts";

type Say = (text: string, level?: "info" | "warn") => void;

export interface DocsIndexOptions {
  /** `--library DIR` folders added to the index. */
  libraries?: readonly string[] | undefined;
  /** The docs index file (absolute). */
  file: string;
  env: { rustDocsDir?: string | undefined; home: string };
  /** Directories the docs index may not be written into (input and output). */
  forbiddenDirs: readonly string[];
  signal?: AbortSignal | undefined;
}

export interface DocsIndexSetup {
  index: LocalDocsIndex;
  roots: DocsRoot[];
  /** What the index holds, in a line (for the log). */
  note: string;
}

/** The docs index, up to date; undefined (said) when there is no documentation to index. */
export async function openDocsIndex(options: DocsIndexOptions, say: Say): Promise<DocsIndexSetup | undefined> {
  const roots = docsRoots(options, say);
  if (roots.length === 0) {
    say("docs research is off: no documentation to index.", "warn");
    return undefined;
  }
  const file = options.file;
  assertOutside(file, options.forbiddenDirs);
  const index = LocalDocsIndex.open(file);
  const started = Date.now();
  const reports = await index.update(roots, { signal: options.signal, onProgress: progressSayer(say) });
  say(indexedText(reports, file, Date.now() - started));
  return { index, roots, note: `docs: ${reports.map((r) => `${r.collection} (${r.files} pages)`).join(", ")}` };
}

function docsRoots(options: DocsIndexOptions, say: Say): DocsRoot[] {
  const roots: DocsRoot[] = [];
  const found = findRustDocsDir({ override: options.env.rustDocsDir, home: options.env.home });
  if (found) roots.push(...rustDocRoots(found.dir));
  else
    say(
      options.env.rustDocsDir
        ? `RUST_KB_DOCS_DIR=${options.env.rustDocsDir} is not a directory: the Rust documentation is not searched.`
        : "The Rust documentation was not found (rustup component add rust-docs installs it): only --library folders are searched.",
      "warn",
    );
  for (const dir of options.libraries ?? []) roots.push(libraryRoot(dir));
  return roots;
}

function assertOutside(file: string, forbiddenDirs: readonly string[]): void {
  for (const dir of forbiddenDirs) {
    const rel = path.relative(path.resolve(dir), file);
    if (rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel)))
      throw new UserError(
        "USAGE",
        `The docs index ${file} would be written inside ${dir}.`,
        "Pass --docs-index PATH outside the input and output directories (the default is next to the checkpoint database).",
      );
  }
}

/** Progress of an index build, said at its start, then at most every 5 s, and when it waits for another process. */
function progressSayer(say: Say): (p: IndexProgress) => void {
  let lastSaid = 0;
  return (p) => {
    if (p.phase === "index" && p.done === 0) say(`docs index: indexing ${p.collection} (${p.total} files)…`);
    else if (p.phase === "index" && Date.now() - lastSaid > 5000) {
      lastSaid = Date.now();
      say(`docs index: ${p.collection} ${p.done}/${p.total} files`);
    } else if (p.phase === "wait") say(`docs index: waiting for another process that is building ${p.collection}…`);
  };
}

function indexedText(reports: readonly RootReport[], file: string, ms: number): string {
  const rebuilt = reports.filter((r) => r.rebuilt);
  const sections = reports.reduce((a, r) => a + r.sections, 0);
  return rebuilt.length > 0
    ? `docs index: built ${rebuilt.map((r) => r.collection).join(", ")} in ${(ms / 1000).toFixed(1)} s (${sections} sections in ${file})`
    : `docs index: up to date (${sections} sections from ${reports.length} collections in ${file})`;
}

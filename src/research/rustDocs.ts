/**
 * Where the local documentation is, and which of its files are worth indexing. rustup's
 * `rust-docs` component installs ~800 MB of HTML; most of it is rustdoc pages for platform
 * intrinsics (core::arch), source views (src/) and per-function pages. The index takes the books
 * whole and from std only module, trait, type, macro, primitive and keyword pages.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** A directory the docs index covers, with the rule for which of its files to read. */
export interface DocsRoot {
  /** Stable key in the index ("rust:book", "library:/abs/dir"). */
  key: string;
  /** Absolute directory. */
  dir: string;
  /** Shown in result titles ("The Rust Programming Language", "std", "notes"). */
  collection: string;
  /** Which files to index, by path relative to `dir` with forward slashes. */
  select: (relPath: string) => boolean;
  /** Names the select rule; part of the fingerprint so a changed rule rebuilds the root. */
  rule: string;
  /**
   * Public address of the same directory (doc.rust-lang.org mirrors rustup's html tree), ending in
   * "/": citations use it so a knowledge base never holds a machine's absolute path. Absent for
   * `--library` folders, which are cited by collection and relative path.
   */
  publicUrl?: string;
}

const MDBOOK_SKIP = /(^|\/)(print|toc|404)\.html$/;

function mdbook(extraSkip?: RegExp): (rel: string) => boolean {
  return (rel) => rel.endsWith(".html") && !MDBOOK_SKIP.test(rel) && !extraSkip?.test(rel);
}

/** std: module indexes and the pages of traits, structs, enums, primitives, keywords and macros; no platform intrinsics. */
export function selectStd(rel: string): boolean {
  if (!rel.endsWith(".html")) return false;
  if (/^(arch|intrinsics|simd|os\/(?!index\.html|unix\/|windows\/|fd\/|raw\/))/.test(rel)) return false;
  const base = rel.slice(rel.lastIndexOf("/") + 1);
  return base === "index.html" || /^(trait|struct|enum|primitive|keyword|macro)\.[^/]+\.html$/.test(base);
}

/** The collections looked for under rustup's html directory. */
const RUST_DOC_COLLECTIONS: readonly { sub: string; collection: string; select: (rel: string) => boolean; rule: string }[] = [
  { sub: "book", collection: "The Rust Programming Language", select: mdbook(/^(2018-edition|first-edition|second-edition)\//), rule: "mdbook-v1" },
  { sub: "std", collection: "std", select: selectStd, rule: "std-v1" },
  // Translations (es/, ja/, ko/, zh/ …) repeat the English pages.
  { sub: "rust-by-example", collection: "Rust By Example", select: mdbook(/^[a-z]{2}(-[A-Za-z]+)?\//), rule: "mdbook-rbe-v1" },
  { sub: "reference", collection: "The Rust Reference", select: mdbook(), rule: "mdbook-v1" },
  { sub: "nomicon", collection: "The Rustonomicon", select: mdbook(), rule: "mdbook-v1" },
  { sub: "clippy", collection: "Clippy", select: mdbook(), rule: "mdbook-v1" },
];

/** The roots of the Rust collections present under `htmlDir`. */
export function rustDocRoots(htmlDir: string): DocsRoot[] {
  const roots: DocsRoot[] = [];
  for (const c of RUST_DOC_COLLECTIONS) {
    const dir = path.join(htmlDir, c.sub);
    if (!isDir(dir)) continue;
    roots.push({ key: `rust:${c.sub}`, dir, collection: c.collection, select: c.select, rule: c.rule, publicUrl: `${publicDocsBase(htmlDir)}${c.sub}/` });
  }
  return roots;
}

const DOCS_SITE = "https://doc.rust-lang.org/";

/**
 * doc.rust-lang.org's root for the toolchain whose documentation is in `htmlDir`, judged by
 * rustup's toolchain directory name: stable at the site root, `beta/`, `nightly/`, a release at
 * `1.95.0/`; stable when the name says nothing (RUST_KB_DOCS_DIR pointing elsewhere).
 */
export function publicDocsBase(htmlDir: string): string {
  const name = /(?:^|[\\/])toolchains[\\/]([^\\/]+)[\\/]share[\\/]doc[\\/]rust[\\/]html[\\/]?$/.exec(htmlDir)?.[1] ?? "";
  if (name.startsWith("beta")) return `${DOCS_SITE}beta/`;
  if (name.startsWith("nightly")) return `${DOCS_SITE}nightly/`;
  const release = /^(\d+\.\d+)(\.\d+)?(?:-|$)/.exec(name);
  if (release) return `${DOCS_SITE}${release[1]}${release[2] ?? ".0"}/`;
  return DOCS_SITE;
}

/**
 * The public address of a local Rust documentation URL (`file://…/share/doc/rust/html/book/x.html#a`
 * becomes `https://doc.rust-lang.org/book/x.html#a`); other file:// URLs have none (undefined);
 * any other URL is returned as it is. For knowledge bases whose store predates public citations.
 */
export function publicDocsUrl(url: string): string | undefined {
  if (!url.startsWith("file:")) return url;
  const hash = url.indexOf("#");
  const anchor = hash >= 0 ? url.slice(hash) : "";
  let file: string;
  try {
    file = decodeURIComponent(new URL(hash >= 0 ? url.slice(0, hash) : url).pathname);
  } catch {
    return undefined;
  }
  const m = /^(.*\/share\/doc\/rust\/html)\/(.+)$/.exec(file.replace(/\\/g, "/"));
  if (!m?.[1] || !m[2]) return undefined;
  return `${publicDocsBase(m[1])}${m[2].split("/").map(encodeURIComponent).join("/")}${anchor}`;
}

const LIBRARY_EXT = /\.(md|markdown|txt|html?)$/i;

/** A `--library DIR`: every md/markdown/txt/html file under it (no hidden folders, no node_modules). */
export function libraryRoot(dir: string): DocsRoot {
  const abs = path.resolve(dir);
  return {
    key: `library:${abs}`,
    dir: abs,
    collection: path.basename(abs) || abs,
    select: (rel) => LIBRARY_EXT.test(rel) && !/(^|\/)(\.[^/]*|node_modules)\//.test(rel),
    rule: "library-v1",
  };
}

export interface FindRustDocsOptions {
  /** `RUST_KB_DOCS_DIR`: the html directory (or its index.html). */
  override?: string;
  home: string;
  /** Runs a command and returns its stdout, or undefined when it fails (tests replace it). */
  exec?: (cmd: string, args: string[]) => string | undefined;
}

/** Finds rustup's documentation: the override, then `rustup doc --path`, then rustc's sysroot, then ~/.rustup/toolchains. */
export function findRustDocsDir(options: FindRustDocsOptions): { dir: string; how: string } | undefined {
  const exec = options.exec ?? run;
  const asDir = (p: string) => (p.endsWith(".html") ? path.dirname(p) : p);
  if (options.override) {
    const dir = asDir(path.resolve(options.override));
    return isDir(dir) ? { dir, how: "RUST_KB_DOCS_DIR" } : undefined;
  }
  const viaRustup = exec("rustup", ["doc", "--path"])?.trim();
  if (viaRustup && isDir(asDir(viaRustup))) return { dir: asDir(viaRustup), how: "rustup doc --path" };
  const sysroot = exec("rustc", ["--print", "sysroot"])?.trim();
  if (sysroot) {
    const dir = path.join(sysroot, "share", "doc", "rust", "html");
    if (isDir(dir)) return { dir, how: "rustc --print sysroot" };
  }
  const toolchains = path.join(options.home, ".rustup", "toolchains");
  const names = safeList(toolchains).sort((a, b) => Number(b.startsWith("stable")) - Number(a.startsWith("stable")) || (a < b ? -1 : 1));
  for (const name of names) {
    const dir = path.join(toolchains, name, "share", "doc", "rust", "html");
    if (isDir(dir)) return { dir, how: "~/.rustup/toolchains" };
  }
  return undefined;
}

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined;
  }
}

function isDir(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

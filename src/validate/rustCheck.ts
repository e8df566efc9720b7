/**
 * Checks a Rust code block the way a careful reader would: does it parse (tree-sitter's Rust
 * grammar), and, where rustc is installed, does it compile (type and borrow checks, no codegen)
 * in a throw-away directory under the system temp dir, with a time limit. Fragments (statements
 * without a function around them) are wrapped in one, as rustdoc does. The verdict:
 *
 * - `compiles`: rustc accepted it (as is, or wrapped in a function);
 * - `parses-only`: it parses, but the compile check could not be completed for a reason that is
 *   not the code's fault: a fragment that uses names it does not define, or a block marked
 *   `ignore` / `compile_fail`;
 * - `fails`: it does not parse, or rustc rejected it; `detail` has the first error;
 * - `not-checkable`: not Rust, needs an external crate or a nightly feature, rustc absent or too slow,
 *   or the snippet would make the compiler read files or the environment, which is never compiled:
 *   named from its tokens where the spelling is plain (`include_str!`, `env!`, `#[path]`,
 *   `extern crate`, …: see compileTimeAccess.ts), else found by rustc's own first pass.
 *
 * rustc runs sandboxed (src/util/spawnGuarded.ts): the real compiler binary (not rustup's proxy)
 * with an empty environment (PATH to its own directory, a temporary HOME and TMPDIR), in a
 * temporary directory, without network and seeing only its toolchain, the system libraries and
 * that directory where the machine allows it (mount namespaces), under rlimits (CPU seconds,
 * address space, file size, processes), in its own process group that dies with this process.
 * It runs twice. The first pass (`--emit=dep-info`: parse, macro expansion, name resolution) lists
 * every file and environment variable the compiler touched, whatever macro tricks spelled them; its
 * diagnostics are never published, and unless it read nothing but the snippet and failed only on
 * missing names, the snippet gets one uniform refusal (firstPassStayedInside.ts), so no verdict says
 * whether a file outside exists. Only then does the check itself run (`--emit=metadata`). Verdict
 * details are its error diagnostics about the snippet only, with every number and quoted literal
 * replaced (withoutValues.ts), truncated, with the temporary and toolchain paths replaced.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import type { Language, Node, Parser } from "web-tree-sitter";
import type { CodeVerification } from "../kb/types.ts";
import { findOnPath } from "../util/findOnPath.ts";
import { isInside, realPathOf } from "../util/realPathOf.ts";
import { fileSystemConfinementAvailable, type GuardedProcess, type GuardedSpawnOptions, type ResourceLimits, spawnGuarded } from "../util/spawnGuarded.ts";
import { compileTimeAccess } from "./compileTimeAccess.ts";
import { firstPassStayedInside, UNIFORM_REFUSAL } from "./firstPassStayedInside.ts";
import { withoutValues } from "./withoutValues.ts";

/** Bump when classification changes, so cached verdicts are recomputed. 2: sandboxed rustc. 3: dep-info first pass, details without values. */
const CHECKER_VERSION = 3;

/** Where verdicts are cached (CodeCheckCache keeps them in the run database). */
export interface VerdictCache {
  get(key: string): CodeVerification | undefined;
  put(key: string, verdict: CodeVerification): void;
}

/** Limits rustc runs under unless told otherwise. */
const DEFAULT_RUSTC_LIMITS: Readonly<Required<Omit<ResourceLimits, "processes">>> = {
  cpuSeconds: 20,
  addressSpaceBytes: 3 * 1024 ** 3,
  fileSizeBytes: 64 * 1024 ** 2,
};
/** Longest verdict detail taken from rustc's message. */
const MAX_DETAIL = 300;
/** rustc's stderr kept per run (a truncated diagnostic line fails the first pass's check). */
const MAX_STDERR = 4 * 1024 * 1024;
/** A dep-info larger than this names more than the snippet anyway. */
const MAX_DEP_INFO = 64 * 1024;

/** The verdict, as recorded on the example in the knowledge base (see CodeVerification). */
export type CodeVerdict = CodeVerification;

export interface RustCheckerOptions {
  /** rustc executable (default "rustc" on PATH); false: parse only. */
  rustc?: string | false;
  /** Time limit per compile (default 20 s). */
  timeoutMs?: number;
  edition?: "2015" | "2018" | "2021" | "2024";
  /** Where temporary crates go (default os.tmpdir()). */
  tmpRoot?: string;
  /** Directories no check may run in (the input and output directories). */
  forbiddenDirs?: readonly string[];
  /** Compiles at once (default 1: the machine is shared with the model). */
  concurrency?: number;
  cache?: VerdictCache;
  /** rlimits for rustc (default DEFAULT_RUSTC_LIMITS; processes: this user's current count + 64). */
  limits?: ResourceLimits;
  /**
   * The token scan before compiling (compileTimeAccess.ts; default on). Off, only rustc's first
   * pass decides what is compiled: tests use it to show that pass holds on its own.
   */
  tokenScan?: boolean;
  /**
   * Confine rustc's view of the file system to its toolchain, the system libraries and the check's
   * directory, where the machine allows it (default on; off: tests of the first pass on its own).
   */
  confine?: boolean;
  /** Test hook: how rustc is started (default spawnGuarded). */
  spawn?: (command: string, args: readonly string[], options: GuardedSpawnOptions) => GuardedProcess;
}

/** The compiler actually run: rustup's proxy needs our HOME, so the toolchain's own binary is used. */
interface Rustc {
  bin: string;
  version: string;
  sysroot: string | undefined;
  /**
   * The paths rustc needs (system libraries, its sysroot and directory), when it runs confined to
   * them and the check's directory: where the machine allows it and a trial run worked.
   */
  confine: readonly string[] | undefined;
}

/** System paths a confined rustc sees besides its toolchain: libraries, the loader's cache, /dev/null. */
const SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache", "/dev/null"];

/** Language tags that are Rust, and rustdoc's attributes that may follow them. */
const RUST_TAGS = new Set(["rust", "rs"]);
const RUSTDOC_ATTRS = /^(ignore|no_run|should_panic|compile_fail|test_harness|allow_fail|standalone_crate|edition\d{4}|E\d{4}|ignore-.*)$/;

/** Top-level nodes that are items (compile as they are in a library crate). */
const ITEMS = new Set([
  "function_item",
  "function_signature_item",
  "struct_item",
  "enum_item",
  "union_item",
  "impl_item",
  "trait_item",
  "use_declaration",
  "mod_item",
  "const_item",
  "static_item",
  "type_item",
  "macro_definition",
  "extern_crate_declaration",
  "foreign_mod_item",
  "attribute_item",
  "inner_attribute_item",
  "line_comment",
  "block_comment",
  "associated_type",
]);

/** rustc errors that mean "this fragment uses a name it does not define", not "this code is wrong". */
const MISSING_CONTEXT = new Set(["E0425", "E0412", "E0433", "E0422", "E0423", "E0424", "E0531", "E0532", "E0405", "E0282", "E0283", "E0261", "E0404"]);
const FN_NAME = "__rust_kb_check";

/** How one rustc run ended. */
interface RustcRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stderr: string;
}

interface Diagnostic {
  code: string | undefined;
  message: string;
  line: number | undefined;
  notes: string;
}

export class RustChecker {
  private readonly options: RustCheckerOptions;
  private parser: Promise<Parser> | undefined;
  private rustcInfo: Promise<Rustc | undefined> | undefined;
  private readonly inflight = new Map<string, Promise<CodeVerdict>>();
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(options: RustCheckerOptions = {}) {
    this.options = options;
  }

  /** rustc's version line, or undefined when rustc is off or absent. */
  async rustc(): Promise<string | undefined> {
    return (await this.compiler())?.version;
  }

  /** Finds the toolchain's rustc (through `rustc --print sysroot`) and checks it runs with an empty environment. */
  private async compiler(): Promise<Rustc | undefined> {
    if (this.options.rustc === false) return undefined;
    this.rustcInfo ??= (async () => {
      const given = this.options.rustc || "rustc";
      const name = path.isAbsolute(given) ? given : (onPath(given) ?? given);
      const run = (cmd: string, args: string[], env?: NodeJS.ProcessEnv) =>
        new Promise<string | undefined>((resolve) =>
          execFile(cmd, args, { timeout: 20_000, env }, (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined)),
        );
      const sysroot = await run(name, ["--print", "sysroot"]);
      const own = sysroot ? path.join(sysroot, "bin", process.platform === "win32" ? "rustc.exe" : "rustc") : undefined;
      // The toolchain's binary, else the name given (a wrapper script, an unusual install), run
      // the way compiles run it: with an empty environment.
      for (const bin of own && fs.existsSync(own) ? [own, name] : [name]) {
        const version = await run(bin, ["--version"], { PATH: path.isAbsolute(bin) ? path.dirname(bin) : (process.env.PATH ?? "") });
        if (version) return { bin, version, sysroot, confine: this.options.confine === false ? undefined : await confinedPaths(bin, sysroot) };
      }
      return undefined;
    })();
    return this.rustcInfo;
  }

  async check(code: string, lang = "rust"): Promise<CodeVerdict> {
    const rustc = (await this.compiler())?.version;
    const key = createHash("sha256")
      .update(JSON.stringify([CHECKER_VERSION, rustc ?? "none", this.options.edition ?? "2021", lang, code]))
      .digest("hex");
    const cached = this.options.cache?.get(key);
    if (cached) return cached;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.checkUncached(code, lang, rustc).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const verdict = await p;
    this.options.cache?.put(key, verdict);
    return verdict;
  }

  private async checkUncached(code: string, lang: string, rustc: string | undefined): Promise<CodeVerdict> {
    const tags = lang
      .toLowerCase()
      .split(/[\s,]+/)
      .filter((t) => t !== "");
    const other = tags.find((t) => !RUST_TAGS.has(t) && !RUSTDOC_ATTRS.test(t));
    if (other) return { status: "not-checkable", parses: false, detail: `the block is marked \`${other}\`, not Rust`, checker: "tree-sitter", wrapped: false };

    const source = unhideRustdocLines(code);
    const parser = await this.loadParser();
    const shape = analyse(parser, source);
    if (!shape.parses) return { status: "fails", parses: false, detail: `does not parse as Rust: ${shape.error}`, checker: "tree-sitter", wrapped: false };

    const marked = tags.find((t) => t === "ignore" || t === "compile_fail" || t.startsWith("ignore-"));
    if (marked) return { status: "parses-only", parses: true, detail: `marked \`${marked}\`: parsed, not compiled`, checker: "tree-sitter", wrapped: false };
    if (shape.access && this.options.tokenScan !== false)
      return { status: "not-checkable", parses: true, detail: `parses; not compiled: it ${shape.access}`, checker: "tree-sitter", wrapped: false };
    if (!rustc) {
      const why = this.options.rustc === false ? "compile check is off" : "rustc is not installed here";
      return { status: "not-checkable", parses: true, detail: `parses; ${why}`, checker: "tree-sitter", wrapped: false };
    }
    const tmpRoot = path.resolve(this.options.tmpRoot ?? os.tmpdir());
    // Compared by real path: a temp dir reached through a link into the input is still inside it.
    const realTmp = realPathOf(tmpRoot) ?? tmpRoot;
    const forbidden = (this.options.forbiddenDirs ?? []).find((d) => isInside(realTmp, realPathOf(d) ?? path.resolve(d)));
    if (forbidden)
      return {
        status: "not-checkable",
        parses: true,
        detail: `parses; not compiled: the temp dir ${tmpRoot} is inside ${forbidden}`,
        checker: "tree-sitter",
        wrapped: false,
      };

    const attempts: { wrapped: boolean; text: string; offset: number }[] = [];
    if (shape.itemsOnly) attempts.push({ wrapped: false, text: source, offset: 0 });
    if (!shape.itemsOnly || shape.hasMacroStatements) attempts.push(wrap(source, shape));
    let best: CodeVerdict | undefined;
    for (const a of attempts) {
      const v = await this.limit(() => this.compile(a.text, a.offset, a.wrapped, tmpRoot));
      if (!best || rank(v) > rank(best)) best = v;
      if (best.status === "compiles") break;
    }
    return best ?? { status: "not-checkable", parses: true, detail: "nothing to compile", checker: "tree-sitter", wrapped: false };
  }

  private async compile(text: string, offset: number, wrapped: boolean, tmpRoot: string): Promise<CodeVerdict> {
    const rustc = (await this.compiler()) as Rustc;
    const dir = fs.mkdtempSync(path.join(tmpRoot, "rust-kb-check-"));
    // The crate and rustc's HOME and TMPDIR in work/; root/ is where a confined rustc's file system is mounted.
    const work = path.join(dir, "work");
    const limits: ResourceLimits = { ...DEFAULT_RUSTC_LIMITS, processes: processBudget(), ...this.options.limits };
    const base = { parses: true as const, checker: rustc.version, wrapped };
    const common = [
      "--edition",
      this.options.edition ?? "2021",
      "--crate-type",
      "lib",
      "--crate-name",
      "snippet",
      "--cap-lints",
      "allow",
      "--error-format=json",
    ];
    try {
      fs.mkdirSync(path.join(work, "home"), { recursive: true });
      fs.mkdirSync(path.join(work, "tmp"));
      fs.mkdirSync(path.join(dir, "root"));
      fs.writeFileSync(path.join(work, "snippet.rs"), text);
      // First pass: parse, expand macros, resolve names, write the dep-info; nothing of it is published.
      const first = await this.runRustc(rustc, dir, [...common, "--emit=dep-info", "-o", "snippet.d", "snippet.rs"], limits);
      if (couldNotRun(first)) return { ...base, status: "not-checkable", detail: "parses; rustc could not run", checker: "tree-sitter" };
      if (!firstPassStayedInside({ ...first, depInfo: readDepInfo(path.join(work, "snippet.d")) }))
        return { ...base, status: "not-checkable", detail: UNIFORM_REFUSAL };
      fs.rmSync(path.join(work, "snippet.d"), { force: true });

      // The check itself: type and borrow checks, const evaluation, metadata (no codegen, no linking).
      const result = await this.runRustc(rustc, dir, [...common, "--emit=metadata", "-o", "snippet.rmeta", "snippet.rs"], limits);
      const { stderr } = result;
      if (result.timedOut) return { ...base, status: "not-checkable", detail: `parses; rustc took longer than ${Math.round(this.timeoutMs() / 1000)} s` };
      const limited = limitReached(result.signal, stderr, limits);
      if (limited) return { ...base, status: "not-checkable", detail: `parses; ${limited}` };
      if (result.signal) return { ...base, status: "not-checkable", detail: `parses; rustc was stopped by ${result.signal}` };
      const short = /^rustc \S+/.exec(rustc.version)?.[0] ?? "rustc";
      if (result.code === 0) return { ...base, status: "compiles", detail: wrapped ? `${short}, wrapped in a function` : short };
      if (couldNotRun(result)) return { ...base, status: "not-checkable", detail: "parses; rustc could not run", checker: "tree-sitter" };
      const paths = [
        dir,
        fs.realpathSync(dir),
        tmpRoot,
        rustc.sysroot,
        path.isAbsolute(rustc.bin) ? path.dirname(rustc.bin) : undefined,
        os.homedir(),
        process.cwd(),
      ];
      return classify(parseDiagnostics(stderr, offset), base, (t) => cleanDetail(withoutValues(t), paths), limits);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private timeoutMs(): number {
    return this.options.timeoutMs ?? 20_000;
  }

  /** One sandboxed rustc run in `dir`/work (src/util/spawnGuarded.ts), under the wall-clock limit. */
  private async runRustc(rustc: Rustc, dir: string, args: readonly string[], limits: ResourceLimits): Promise<RustcRun> {
    const work = path.join(dir, "work");
    let stderr = "";
    const spawnRustc = this.options.spawn ?? spawnGuarded;
    const child = spawnRustc(rustc.bin, args, {
      env: rustcEnv(rustc.bin, work),
      cwd: work,
      limits,
      noNetwork: true,
      ...(rustc.confine ? { confine: confinement(rustc, rustc.confine, dir) } : {}),
      graceMs: 1000,
      onStderr: (d) => {
        if (stderr.length < MAX_STDERR) stderr += d.toString();
      },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill();
    }, this.timeoutMs());
    const result = await child.exited.finally(() => clearTimeout(timer));
    return { code: result.code, signal: result.signal, timedOut, stderr };
  }

  private async loadParser(): Promise<Parser> {
    this.parser ??= (async () => {
      const { Parser: P, Language: L } = await import("web-tree-sitter");
      await P.init();
      const wasm = createRequire(import.meta.url).resolve("tree-sitter-rust/tree-sitter-rust.wasm");
      const language: Language = await L.load(wasm);
      const parser = new P();
      parser.setLanguage(language);
      return parser;
    })();
    return this.parser;
  }

  private async limit<T>(fn: () => Promise<T>): Promise<T> {
    const max = Math.max(1, this.options.concurrency ?? 1);
    if (this.running >= max) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}

interface Shape {
  parses: boolean;
  error: string;
  /** Every top-level node is an item (or a macro call that may be one). */
  itemsOnly: boolean;
  hasMacroStatements: boolean;
  usesTry: boolean;
  usesAwait: boolean;
  /** Wrapped in a function, the block ends in an expression (its value). */
  trailing: string | undefined;
  /** What in it would make the compiler read files or the environment (then it is not compiled). */
  access?: string;
}

function analyse(parser: Parser, source: string): Shape {
  const raw = parser.parse(source);
  const wrappedText = `fn ${FN_NAME}() {\n${source}\n}`;
  const wrapped = parser.parse(wrappedText);
  try {
    if (!raw || !wrapped)
      return {
        parses: false,
        error: "the parser gave no tree",
        itemsOnly: false,
        hasMacroStatements: false,
        usesTry: false,
        usesAwait: false,
        trailing: undefined,
      };
    const rawOk = !raw.rootNode.hasError;
    const wrappedOk = !wrapped.rootNode.hasError;
    if (!rawOk && !wrappedOk)
      return {
        parses: false,
        error: firstError(raw.rootNode),
        itemsOnly: false,
        hasMacroStatements: false,
        usesTry: false,
        usesAwait: false,
        trailing: undefined,
      };
    const top = rawOk ? raw.rootNode.namedChildren.filter((n): n is Node => n !== null) : [];
    const isMacroStatement = (n: Node) =>
      n.type === "macro_invocation" || (n.type === "expression_statement" && n.namedChildren[0]?.type === "macro_invocation");
    const itemsOnly = rawOk && top.every((n) => ITEMS.has(n.type) || isMacroStatement(n));
    const body = wrapped.rootNode.namedChildren[0]?.childForFieldName("body");
    const stmts = body?.namedChildren.filter((n): n is Node => n !== null && !n.type.endsWith("comment")) ?? [];
    const last = stmts[stmts.length - 1];
    const trailing =
      last && !last.type.endsWith("_statement") && last.type !== "let_declaration" && !ITEMS.has(last.type) && !last.type.endsWith("_item")
        ? last.text
        : undefined;
    const access = (rawOk ? compileTimeAccess(raw.rootNode) : undefined) ?? (wrappedOk ? compileTimeAccess(wrapped.rootNode) : undefined);
    return {
      parses: true,
      error: "",
      access,
      itemsOnly,
      hasMacroStatements: top.some(isMacroStatement),
      usesTry: body ? ownDescendants(body, "try_expression") : false,
      usesAwait: body ? ownDescendants(body, "await_expression") : false,
      trailing,
    };
  } finally {
    raw?.delete();
    wrapped?.delete();
  }
}

/** Whether `type` occurs in this function body itself (not inside a nested fn, closure or async block). */
function ownDescendants(body: Node, type: string): boolean {
  for (const n of body.descendantsOfType(type)) {
    let p = n?.parent ?? null;
    let own = true;
    while (p && p.id !== body.id) {
      if (p.type === "function_item" || p.type === "closure_expression" || p.type === "async_block") {
        own = false;
        break;
      }
      p = p.parent;
    }
    if (own) return true;
  }
  return false;
}

function firstError(root: Node): string {
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const n = stack.shift() as Node;
    if (n.isMissing) return `line ${n.startPosition.row + 1}, column ${n.startPosition.column + 1}: missing \`${n.type}\``;
    if (n.isError) {
      const text = n.text.replace(/\s+/g, " ").trim();
      return `line ${n.startPosition.row + 1}, column ${n.startPosition.column + 1}: unexpected \`${text.length > 40 ? `${text.slice(0, 40)}…` : text}\``;
    }
    for (const c of n.children) if (c?.hasError || c?.isMissing || c?.isError) stack.push(c);
  }
  return "syntax error";
}

/** The obvious reading of a fragment: the body of a function (async if it awaits, returning Result if it uses `?`). */
function wrap(source: string, shape: Shape): { wrapped: true; text: string; offset: number } {
  const asyncKw = shape.usesAwait ? "async " : "";
  if (shape.usesTry) {
    const ret = "-> Result<(), Box<dyn std::error::Error>>";
    if (shape.trailing?.startsWith("Ok")) return { wrapped: true, text: `${asyncKw}fn ${FN_NAME}() ${ret} {\n${source}\n}\n`, offset: 1 };
    if (shape.trailing) return { wrapped: true, text: `${asyncKw}fn ${FN_NAME}() ${ret} {\nlet _ = {\n${source}\n};\nOk(())\n}\n`, offset: 2 };
    return { wrapped: true, text: `${asyncKw}fn ${FN_NAME}() ${ret} {\n${source}\nOk(())\n}\n`, offset: 1 };
  }
  if (shape.trailing) return { wrapped: true, text: `${asyncKw}fn ${FN_NAME}() {\nlet _ = {\n${source}\n};\n}\n`, offset: 2 };
  return { wrapped: true, text: `${asyncKw}fn ${FN_NAME}() {\n${source}\n}\n`, offset: 1 };
}

/** rustdoc hides lines starting with `# ` (or a lone `#`) but compiles them; `##` stands for a literal `#`. */
export function unhideRustdocLines(code: string): string {
  return code
    .split("\n")
    .map((l) => {
      const m = /^(\s*)#(?: (.*))?$/.exec(l);
      if (m && !/^\s*#\s*!?\[/.test(l)) return `${m[1] ?? ""}${m[2] ?? ""}`;
      return l.replace(/^(\s*)##/, "$1#");
    })
    .join("\n");
}

function parseDiagnostics(stderr: string, offset: number): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const line of stderr.split("\n")) {
    if (!line.startsWith("{")) continue;
    let d: {
      level?: string;
      message?: string;
      code?: { code?: string } | null;
      spans?: { is_primary?: boolean; file_name?: string; line_start?: number; label?: string | null }[];
      children?: { message?: string }[];
    };
    try {
      d = JSON.parse(line);
    } catch {
      continue;
    }
    if (d.level !== "error" || !d.message || /^aborting due to/.test(d.message)) continue;
    const primary = d.spans?.find((s) => s.is_primary);
    // Only diagnostics about the snippet (or about the crate as a whole, which have no span).
    if (primary && primary.file_name !== "snippet.rs") continue;
    const line0 = primary?.line_start;
    out.push({
      code: d.code?.code ?? undefined,
      message: d.message,
      line: line0 !== undefined && line0 - offset >= 1 ? line0 - offset : undefined,
      notes: [primary?.label ?? "", ...(d.children ?? []).map((c) => c.message ?? "")].join(" "),
    });
  }
  return out;
}

const EXTERNAL =
  /unlinked crate|missing a crate named|can't find crate|use of undeclared crate|could not find `[^`]+` in the crate root|you might be missing crate/i;

function classify(
  diags: Diagnostic[],
  base: { parses: true; checker: string; wrapped: boolean },
  clean: (text: string) => string,
  limits: ResourceLimits,
): CodeVerdict {
  const fmt = (d: Diagnostic) => `error${d.code ? `[${d.code}]` : ""}: ${clean(d.message)}${d.line !== undefined ? ` (line ${d.line})` : ""}`;
  if (diags.length === 0) return { ...base, status: "fails", detail: "rustc failed without a diagnostic about the snippet" };
  const memory = diags.find((d) => /more memory than available to compiler/i.test(`${d.message} ${d.notes}`));
  if (memory) return { ...base, status: "not-checkable", detail: `parses; needs more memory than the check allows (${mib(limits.addressSpaceBytes)})` };
  const external = diags.find((d) => (d.code === "E0432" || d.code === "E0433" || d.code === "E0463") && EXTERNAL.test(`${d.message} ${d.notes}`));
  if (external) {
    const name = /`([A-Za-z_][A-Za-z0-9_]*)/.exec(external.message)?.[1];
    return { ...base, status: "not-checkable", detail: `needs the external crate${name ? ` \`${name}\`` : ""} (${fmt(external)})` };
  }
  const unstable = diags.find((d) => d.code === "E0554" || d.code === "E0658");
  if (unstable) return { ...base, status: "not-checkable", detail: `needs nightly Rust (${fmt(unstable)})` };
  const real = diags.find((d) => !d.code || !MISSING_CONTEXT.has(d.code));
  if (real) return { ...base, status: "fails", detail: fmt(real) };
  const first = diags[0] as Diagnostic;
  return { ...base, status: "parses-only", detail: `a fragment: it uses names it does not define (${fmt(first)})` };
}

function rank(v: CodeVerdict): number {
  return { compiles: 3, "parses-only": 2, "not-checkable": 1, fails: 0 }[v.status];
}

/**
 * A verdict detail from rustc's text: the check's temporary and toolchain paths replaced, no
 * control characters, one line, at most MAX_DETAIL characters.
 */
export function cleanDetail(text: string, paths: readonly (string | undefined)[]): string {
  let out = text;
  const known = [...new Set(paths.filter((p): p is string => typeof p === "string" && p.length > 1))].sort((a, b) => b.length - a.length);
  for (const p of known) out = out.split(p).join("…");
  out = out
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return out.length > MAX_DETAIL ? `${out.slice(0, MAX_DETAIL - 1)}…` : out;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? "no limit" : `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/** Which rlimit ended rustc, as a sentence, or undefined. */
function limitReached(signal: NodeJS.Signals | null, stderr: string, limits: ResourceLimits): string | undefined {
  if (signal === "SIGXCPU" || (signal === "SIGKILL" && limits.cpuSeconds !== undefined)) return `rustc reached the check's CPU limit (${limits.cpuSeconds} s)`;
  if (signal === "SIGXFSZ") return `rustc reached the check's file-size limit (${mib(limits.fileSizeBytes)})`;
  if (/memory allocation of \d+ bytes failed|out of memory|Cannot allocate memory/i.test(stderr) && (signal !== null || !stderr.includes('"level":"error"')))
    return `rustc reached the check's memory limit (${mib(limits.addressSpaceBytes)})`;
  return undefined;
}

/** RLIMIT_NPROC counts every process and thread of this user: allow what runs now plus rustc's few threads. */
function processBudget(): number | undefined {
  if (process.platform !== "linux" || typeof process.getuid !== "function") return undefined;
  const uid = process.getuid();
  if (uid === 0) return undefined; // not enforced for root
  let tasks = 0;
  try {
    for (const pid of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        if (fs.statSync(`/proc/${pid}`).uid === uid) tasks += fs.readdirSync(`/proc/${pid}/task`).length;
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    return undefined;
  }
  return tasks + 64;
}

/** The absolute path of an executable on PATH (as a shell would find it). */
function onPath(name: string): string | undefined {
  if (name.includes(path.sep)) return path.resolve(name);
  return findOnPath(name);
}

/** rustc was not found or could not start (the shell's 127, the confinement's 125; no diagnostic printed). */
function couldNotRun(run: RustcRun): boolean {
  return !run.timedOut && run.signal === null && (run.code === 127 || run.code === 125) && !run.stderr.includes("{");
}

/** The first pass's dep-info, or undefined when rustc wrote none (or one too large to be only the snippet). */
function readDepInfo(file: string): string | undefined {
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.size > MAX_DEP_INFO) return undefined;
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** rustc's whole environment: nothing of ours reaches it (no API keys, no proxies, no RUSTFLAGS or RUSTC_WRAPPER). */
function rustcEnv(bin: string, work: string): Record<string, string> {
  return { PATH: path.isAbsolute(bin) ? path.dirname(bin) : "/usr/bin:/bin", HOME: path.join(work, "home"), TMPDIR: path.join(work, "tmp") };
}

/**
 * What a confined rustc sees: `visible` and the check's work directory, mounted on `dir`/root; and,
 * with no /proc there, `/proc/self/exe` as a link to the toolchain's own binary, which rustc (to
 * find its sysroot) and the loader (to resolve the `$ORIGIN` of rustup's library path) read.
 */
function confinement(rustc: Pick<Rustc, "bin" | "sysroot">, visible: readonly string[], dir: string): NonNullable<GuardedSpawnOptions["confine"]> {
  const own = rustc.sysroot ? path.join(rustc.sysroot, "bin", "rustc") : undefined;
  const exe = own && fs.existsSync(own) ? own : rustc.bin;
  return { visible: [...visible, fs.realpathSync(path.join(dir, "work"))], rootDir: path.join(dir, "root"), links: [["/proc/self/exe", exe]] };
}

/**
 * The paths a confined rustc sees (SYSTEM_PATHS, its sysroot and its own directory, real paths),
 * or undefined when rustc cannot be confined here: no mount namespaces, no known sysroot, or a
 * trial compile that does not work that way (a wrapper script that needs more, an unusual install).
 */
async function confinedPaths(bin: string, sysroot: string | undefined): Promise<readonly string[] | undefined> {
  if (!sysroot || !path.isAbsolute(bin) || !fileSystemConfinementAvailable()) return undefined;
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return undefined;
    }
  };
  const toolchain = [real(sysroot), real(path.dirname(bin))].filter((p): p is string => p !== undefined);
  const visible = [...new Set([...SYSTEM_PATHS.filter((p) => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined), ...toolchain])];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-trial-"));
  try {
    const work = path.join(dir, "work");
    fs.mkdirSync(path.join(work, "home"), { recursive: true });
    fs.mkdirSync(path.join(work, "tmp"));
    fs.mkdirSync(path.join(dir, "root"));
    // A small crate, not just --version: rustc looks for its sysroot and libraries only when it compiles.
    fs.writeFileSync(path.join(work, "trial.rs"), "pub fn trial() -> Vec<u8> { vec![1] }\n");
    const child = spawnGuarded(bin, ["--crate-type", "lib", "--emit=metadata", "-o", "trial.rmeta", "trial.rs"], {
      env: rustcEnv(bin, work),
      cwd: work,
      confine: confinement({ bin, sysroot }, visible, dir),
      graceMs: 1000,
    });
    const timer = setTimeout(() => child.kill(), 20_000);
    const result = await child.exited.finally(() => clearTimeout(timer));
    return child.isolation.confined && result.code === 0 && fs.existsSync(path.join(work, "trial.rmeta")) ? visible : undefined;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

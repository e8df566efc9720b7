/**
 * npm's postinstall for this package: builds llama-server, the fast engine, once into the per-user
 * cache (scripts/buildLlamaServer.sh), and says what it is doing in a progress line instead of the
 * compiler's thousands of lines, which go to a log file beside the cache.
 *
 * It never fails the install. With RUST_KB_SKIP_LLAMA_BUILD=1, without cmake or a C++ compiler,
 * where an NVIDIA GPU is present (runs stay in process on CUDA there), or when the build fails, it
 * prints one line (what happened, what runs instead, how to get the fast engine later) and exits 0;
 * runs then use node-llama-cpp in process (src/llm/chooseBackend.ts). A current cached build makes
 * it return at once.
 *
 * npm 11 runs the root package's own lifecycle scripts on `npm install` and `npm ci` (preinstall,
 * install, postinstall, prepare) with the terminal as their output; its allowScripts approvals
 * concern dependencies only. It does not run them for `npm install <pkg>` or with --ignore-scripts.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { readEnv } from "../src/config/env.ts";
import { cudaLikely } from "../src/llm/chooseBackend.ts";
import { SERVER_OVER_IN_PROCESS_UNDER_GRAMMAR } from "../src/llm/engineSpeed.ts";
import { findOnPath } from "../src/util/findOnPath.ts";
import { bundleCommit } from "../src/util/llamaCppTools.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BUILD_SCRIPT = path.join(ROOT, "scripts", "buildLlamaServer.sh");

/** The build's duration as measured on the 2-core development VM (docs/BENCHMARKS.md), for the first line. */
const EXPECTED = "about 15 min on 2 cores, less with more";
const SKIP_HINT = "RUST_KB_SKIP_LLAMA_BUILD=1 skips it";
const FALLBACK = `runs use node-llama-cpp in process (it works; about ${SERVER_OVER_IN_PROCESS_UNDER_GRAMMAR}x slower under the pipeline's JSON grammar)`;
/** The build script exits with this when another build of the same commit holds the lock. */
const BUSY_EXIT = 75;

export type InstallOutcome = "skipped" | "unsupported" | "no-source" | "cached" | "gpu" | "no-tools" | "busy" | "built" | "failed";

export interface InstallDeps {
  /** RUST_KB_SKIP_LLAMA_BUILD=1. */
  skip: boolean;
  platform: NodeJS.Platform;
  /** Where the cache lives (`${XDG_CACHE_HOME:-~/.cache}/rust-kb-pipeline/llama.cpp`): the build log goes there. */
  cacheRoot: string;
  home: string;
  /** The commit of node-llama-cpp's llama.cpp bundle; undefined when it is not installed beside this package. */
  commit: string | undefined;
  /** An NVIDIA GPU is present (runs use node-llama-cpp's CUDA build in process; the llama-server built here is a CPU build). */
  cuda: boolean;
  /** The cached binary when the cache holds a current build (`buildLlamaServer.sh --check`), else undefined. */
  check: () => Promise<string | undefined>;
  /** A command's path on PATH, or undefined. */
  which: (name: string) => string | undefined;
  /** macOS: Xcode's command-line tools are installed (`xcode-select -p`); /usr/bin/c++ is only a stub without them. */
  xcodeTools: () => boolean;
  /** `CXX`, when set: the compiler CMake will use. */
  cxx: string | undefined;
  /** Runs the build; every output line goes to `onLine`; resolves its exit code. */
  build: (onLine: (line: string) => void) => Promise<number>;
  out: { write(text: string): unknown; isTTY?: boolean };
  now: () => number;
}

function tilde(p: string, home: string): string {
  return home && (p === home || p.startsWith(`${home}${path.sep}`)) ? `~${p.slice(home.length)}` : p;
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m < 1 ? "under a minute" : `${m} min`;
}

/** What is missing to build, in words (empty when nothing is). */
export function missingTools(d: Pick<InstallDeps, "platform" | "which" | "xcodeTools" | "cxx">): string[] {
  const missing: string[] = d.which("cmake") ? [] : ["cmake"];
  // Xcode's command-line tools bring clang, git and make.
  if (d.platform === "darwin") {
    if (!d.xcodeTools()) missing.push("Xcode's command-line tools");
  } else {
    const compiler =
      d.cxx !== undefined ? (path.isAbsolute(d.cxx) ? fs.existsSync(d.cxx) : d.which(d.cxx) !== undefined) : ["c++", "g++", "clang++"].some((c) => d.which(c));
    if (!compiler) missing.push("a C++ compiler");
    if (!d.which("git")) missing.push("git");
    if (!d.which("make") && !d.which("ninja")) missing.push("make or ninja");
  }
  return missing;
}

function installHint(platform: NodeJS.Platform, missing: readonly string[]): string {
  if (platform === "darwin") {
    const steps = [
      missing.includes("Xcode's command-line tools") ? "xcode-select --install" : undefined,
      missing.includes("cmake") ? "brew install cmake" : undefined,
    ];
    return steps.filter(Boolean).join("; ");
  }
  return "on Debian or Ubuntu: sudo apt-get install cmake g++ git ninja-build";
}

function joinWords(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

/** `[120/344]` (ninja) or `[ 35%]` (make): the build's progress as a fraction, with the step counts when known. */
export function parseProgress(line: string): { fraction: number; step?: [number, number] } | undefined {
  const ninja = /^\[(\d+)\/(\d+)\]/.exec(line);
  if (ninja) {
    const done = Number(ninja[1]);
    const total = Number(ninja[2]);
    return total > 0 ? { fraction: done / total, step: [done, total] } : undefined;
  }
  const make = /^\[\s*(\d+)%\]/.exec(line);
  return make ? { fraction: Number(make[1]) / 100 } : undefined;
}

/** The line of a failed build's output that most likely says why. */
function failureLine(lines: readonly string[]): string {
  const meaningful = lines.filter((l) => l.trim() !== "" && !/^\[\d+\/\d+\]|^\[\s*\d+%\]/.test(l));
  const last = (re: RegExp) => [...meaningful].reverse().find((l) => re.test(l));
  const line = (last(/\berror\b/i) ?? last(/missing|cannot|not found|failed/i) ?? meaningful[meaningful.length - 1] ?? "").trim().replace(/\.$/, "");
  return line.length > 240 ? `${line.slice(0, 237)}...` : line;
}

export async function installLlamaServer(d: InstallDeps): Promise<InstallOutcome> {
  const say = (line: string) => d.out.write(`rust-kb: ${line}\n`);
  if (d.skip) {
    say(`llama-server (the fast engine) not built: RUST_KB_SKIP_LLAMA_BUILD is set; ${FALLBACK}. \`bash scripts/buildLlamaServer.sh\` builds it later.`);
    return "skipped";
  }
  if (d.platform === "win32") {
    say(`llama-server (the fast engine) is built on Linux and macOS only; ${FALLBACK}.`);
    return "unsupported";
  }
  if (d.commit === undefined) {
    say(`llama-server (the fast engine) not built: node-llama-cpp's llama.cpp source was not found beside this package; ${FALLBACK}.`);
    return "no-source";
  }
  const cached = await d.check().catch(() => undefined);
  if (cached !== undefined) {
    say(`llama-server (the fast engine) is built: ${tilde(cached, d.home)}`);
    return "cached";
  }
  if (d.cuda) {
    say(
      "llama-server not built: an NVIDIA GPU is present, and runs use node-llama-cpp's CUDA build in process there (the llama-server built here would be a CPU build; `bash scripts/buildLlamaServer.sh` builds it anyway).",
    );
    return "gpu";
  }
  const missing = missingTools(d);
  if (missing.length > 0) {
    say(
      `llama-server (the fast engine) not built: ${joinWords(missing)} ${missing.length === 1 ? "is" : "are"} missing; ${FALLBACK}. For the fast engine, install ${missing.length === 1 ? "it" : "them"} (${installHint(d.platform, missing)}), then run \`bash scripts/buildLlamaServer.sh\` (or npm install again).`,
    );
    return "no-tools";
  }
  return await runBuild(d, d.commit, say);
}

async function runBuild(d: InstallDeps, commit: string, say: (line: string) => void): Promise<InstallOutcome> {
  const dest = path.join(d.cacheRoot, commit);
  const logFile = path.join(d.cacheRoot, `${commit}.build.log`);
  fs.mkdirSync(d.cacheRoot, { recursive: true });
  const log = fs.openSync(logFile, "w");
  const shownLog = tilde(logFile, d.home);
  say(`building llama-server (the fast engine) once into ${tilde(dest, d.home)}: ${EXPECTED}; ${SKIP_HINT}. Full log: ${shownLog}`);
  const start = d.now();
  const tail: string[] = [];
  let phase = "preparing";
  let shownTenth = -1;
  let lastDraw = 0;
  let drawn = false;
  let binary: string | undefined;
  const status = (p: { fraction: number; step?: [number, number] } | undefined): string => {
    const elapsed = d.now() - start;
    if (!p) return `llama-server: ${phase}, ${minutes(elapsed)} so far`;
    const step = p.step ? `[${p.step[0]}/${p.step[1]}] ` : "";
    const leftMs = (elapsed * (1 - p.fraction)) / p.fraction;
    const left = p.fraction < 0.05 || elapsed < 20_000 ? "" : leftMs < 60_000 ? ", almost done" : `, ~${minutes(leftMs)} left`;
    return `llama-server ${step}${Math.floor(p.fraction * 100)}%, ${minutes(elapsed)} so far${left}`;
  };
  const onLine = (line: string) => {
    fs.writeSync(log, `${line}\n`);
    tail.push(line);
    if (tail.length > 200) tail.shift();
    if (line.startsWith("== ")) phase = line.slice(3);
    if (line.startsWith("/") && line.endsWith("/bin/llama-server")) binary = line;
    const p = parseProgress(line);
    if (d.out.isTTY) {
      // One line, rewritten in place at most twice a second.
      if (d.now() - lastDraw < 500 && !line.startsWith("== ")) return;
      lastDraw = d.now();
      drawn = true;
      d.out.write(`\r\x1b[Krust-kb: ${status(p)}`);
    } else if (line.startsWith("== ")) say(`llama-server: ${phase}`);
    else if (p && Math.floor(p.fraction * 10) > shownTenth) {
      // Without a terminal (CI, logs): a line per tenth of the build.
      shownTenth = Math.floor(p.fraction * 10);
      say(status(p));
    }
  };
  let code: number;
  try {
    code = await d.build(onLine);
  } catch (e) {
    onLine(`could not start the build: ${(e as Error).message}`);
    code = -1;
  } finally {
    fs.closeSync(log);
  }
  if (drawn) d.out.write("\r\x1b[K");
  const took = minutes(d.now() - start);
  if (code === 0) {
    say(`llama-server built in ${took}: ${tilde(binary ?? path.join(dest, "bin", "llama-server"), d.home)}; runs use it.`);
    return "built";
  }
  if (code === BUSY_EXIT) {
    say(`another build of llama-server ${commit.slice(0, 12)} is running; runs use it once it is done (node-llama-cpp in process until then).`);
    return "busy";
  }
  say(
    `the llama-server build failed (exit ${code}) after ${took}: ${failureLine(tail)}. npm install goes on; ${FALLBACK}. Full log: ${shownLog}. Try again with \`bash scripts/buildLlamaServer.sh\` (it resumes where it stopped).`,
  );
  return "failed";
}

/** Runs the build script; stdout and stderr are split into lines for `onLine`. */
function runScript(args: readonly string[], onLine: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [BUILD_SCRIPT, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [child.stdout, child.stderr]) {
      let rest = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const lines = (rest + chunk).split(/\r?\n/);
        rest = lines.pop() ?? "";
        for (const line of lines) onLine(line);
      });
      stream.on("end", () => {
        if (rest) onLine(rest);
      });
    }
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}

/** The real machine: environment, PATH, the build script. */
export function realDeps(): InstallDeps {
  const env = readEnv();
  return {
    skip: env.skipLlamaBuild,
    platform: process.platform,
    cacheRoot: env.llamaCppCache,
    home: env.home,
    commit: bundleCommit(),
    cuda: cudaLikely(env.gpu),
    check: async () => {
      const lines: string[] = [];
      const code = await runScript(["--check"], (l) => lines.push(l));
      return code === 0 ? lines.filter((l) => l.trim() !== "").pop() : undefined;
    },
    which: (name: string) => findOnPath(name),
    xcodeTools: () => spawnSync("/usr/bin/xcode-select", ["-p"], { stdio: "ignore" }).status === 0,
    cxx: env.cxx,
    build: (onLine) => runScript([], onLine),
    out: process.stderr,
    now: Date.now,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  installLlamaServer(realDeps()).then(
    () => {
      process.exitCode = 0;
    },
    (e: unknown) => {
      // Whatever went wrong, the install goes on.
      process.stderr.write(`rust-kb: llama-server not built (${(e as Error).message}); ${FALLBACK}. \`bash scripts/buildLlamaServer.sh\` builds it.\n`);
      process.exitCode = 0;
    },
  );
}

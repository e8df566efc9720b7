/**
 * Starts a child process that never outlives this one and runs with only what it is given.
 *
 * On POSIX the command runs under a small `sh` watchdog that holds the read end of our stdin pipe:
 * - the command gets its own process group (`setsid`), so stopping it stops everything it started;
 * - when this process ends in any way (even SIGKILL, which runs no handler) the pipe closes and the
 *   watchdog sends SIGTERM to the group, then SIGKILL after a grace period;
 * - where `setpriv` exists the command also gets SIGKILL when the watchdog itself dies (a SIGKILL
 *   of our whole process group takes the watchdog too, and the command must not survive that);
 * - the environment is exactly `env` (nothing inherited), optionally under rlimits (`prlimit`) and
 *   in a network namespace of its own (`unshare -rn`, only where unprivileged user namespaces are
 *   allowed: `isolation` says what was applied).
 * Ctrl-C does not reach the command directly: the caller decides when to stop it (a pipeline drains
 * in-flight work first). On Windows the command is spawned plainly.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface ResourceLimits {
  /** CPU seconds (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL one second later). */
  cpuSeconds?: number;
  /** Address space in bytes (RLIMIT_AS: allocations beyond it fail). */
  addressSpaceBytes?: number;
  /** Largest file the command may write, in bytes (RLIMIT_FSIZE). */
  fileSizeBytes?: number;
  /** Processes and threads of this user (RLIMIT_NPROC; not enforced for root). */
  processes?: number;
}

export interface GuardedSpawnOptions {
  /** The command's whole environment: nothing of ours is inherited. */
  env: Record<string, string>;
  cwd?: string;
  limits?: ResourceLimits;
  /** Run in a network namespace of its own (no network at all) where that needs no privileges. */
  noNetwork?: boolean;
  /**
   * Where the machine allows it (fileSystemConfinementAvailable), the command sees only these
   * absolute paths of the file system (bind-mounted into an empty root, in a mount namespace of its
   * own; symbolic links among them are re-created as links), starting in `cwd`, which must be one
   * of them or under one. `rootDir`: an empty directory of ours the new root is mounted on.
   * `links`: symbolic links to create there, `[path, target]` (no /proc is mounted: a program that
   * reads `/proc/self/exe` to find itself can be given that one link).
   */
  confine?: { visible: readonly string[]; rootDir: string; links?: readonly (readonly [string, string])[] };
  /** Between SIGTERM and SIGKILL when stopped (default 5000 ms). */
  graceMs?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/** What the sandbox could apply on this machine. */
export interface Isolation {
  ownProcessGroup: boolean;
  diesWithWatchdog: boolean;
  limits: boolean;
  noNetwork: boolean;
  /** The command sees only the paths in `confine.visible`. */
  confined: boolean;
}

export interface GuardedProcess {
  /** The watchdog (or, on Windows, the command itself). */
  readonly child: ChildProcess;
  /** The command's pid (its process group id where it has its own group), once known. */
  readonly pid: Promise<number | undefined>;
  readonly isolation: Isolation;
  /** Ends when the command has ended; `signal` is set when a signal ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the command's group, SIGKILL after the grace period. Idempotent. */
  stop(): void;
  /** SIGKILL to the command's group now. */
  kill(): void;
}

/**
 * $1 grace seconds; $2… the command. fd 0: our pipe (kept as fd 4, never given to the command);
 * fd 3: where the command's pid is reported. Exits with the command's status (128+n for signal n).
 * `sh` would export PWD to the command: it is unset first, so the command's environment is `env`.
 */
const WATCHDOG = [
  'unset PWD OLDPWD RUST_KB_WATCHDOG; g=$1; shift; exec 4<&0 </dev/null; RUST_KB_WATCHDOG=$$ "$@" 3>&- 4<&- & c=$!; echo "$c" >&3; exec 3>&-',
  "trap '' INT TERM HUP QUIT",
  '(read _ <&4; kill -s TERM -- -"$c" 2>/dev/null || kill -s TERM "$c" 2>/dev/null; sleep "$g"; kill -s KILL -- -"$c" 2>/dev/null || kill -s KILL "$c" 2>/dev/null) >/dev/null 2>&1 & w=$!',
  'exec 4<&-; wait "$c"; s=$?; kill -s KILL "$w" 2>/dev/null; kill -s KILL -- -"$c" 2>/dev/null; exit "$s"',
].join("\n");

/**
 * Inside a new user and mount namespace: an empty tmpfs on $1, each of the $3 paths that follow
 * bind-mounted at the same place in it (a symbolic link re-created as one), then the number of
 * links to create and their `path target` pairs; then "$@" after the working directory runs with
 * that tmpfs as its root (through $2, util-linux's unshare --root, which also enters the working
 * directory there). Exit 125 when a mount fails.
 * PATH is set for the setup only: the command keeps the environment it was given.
 */
const CONFINE = [
  "p0=$PATH; PATH=/usr/sbin:/usr/bin:/sbin:/bin; r=$1; u=$2; n=$3; shift 3",
  'mount -t tmpfs -o mode=0755 rust-kb-root "$r" || exit 125',
  'while [ "$n" -gt 0 ]; do p=$1; shift; n=$((n-1))',
  '  if [ -L "$p" ]; then mkdir -p "$r$(dirname "$p")" && ln -s "$(readlink "$p")" "$r$p" || exit 125',
  '  elif [ -d "$p" ]; then mkdir -p "$r$p" && mount --rbind "$p" "$r$p" || exit 125',
  '  elif [ -e "$p" ]; then mkdir -p "$r$(dirname "$p")" && : > "$r$p" && mount --bind "$p" "$r$p" || exit 125; fi',
  "done",
  "n=$1; shift",
  'while [ "$n" -gt 0 ]; do mkdir -p "$r$(dirname "$1")" && ln -s "$2" "$r$1" || exit 125; shift 2; n=$((n-1)); done',
  'w=$1; shift; PATH=$p0; exec "$u" --root="$r" --wd="$w" -- "$@"',
].join("\n");

/** Runs "$@" only if the watchdog is still our parent (so its death will signal us). */
const PARENT_GUARD = '[ "$PPID" = "$RUST_KB_WATCHDOG" ] || exit 137; unset RUST_KB_WATCHDOG PWD OLDPWD; exec "$@"';

const TOOL_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];
const tools = new Map<string, string | undefined>();

/** Absolute path of a system tool (util-linux's setsid, setpriv, prlimit, unshare), or undefined. */
export function systemTool(name: string): string | undefined {
  if (!tools.has(name)) {
    const dirs = [...TOOL_DIRS, ...(process.env.PATH ?? "").split(path.delimiter).filter((d) => path.isAbsolute(d))];
    tools.set(
      name,
      dirs
        .map((d) => path.join(d, name))
        .find((p) => {
          try {
            fs.accessSync(p, fs.constants.X_OK);
            return true;
          } catch {
            return false;
          }
        }),
    );
  }
  return tools.get(name);
}

let netnsWorks: boolean | undefined;

/** Whether `unshare -rn` works here without privileges (user namespaces may be disabled). */
export function networkNamespaceAvailable(): boolean {
  if (netnsWorks === undefined) {
    const unshare = systemTool("unshare");
    netnsWorks =
      process.platform === "linux" &&
      unshare !== undefined &&
      spawnSync(unshare, ["-rn", "--", "/bin/sh", "-c", "exit 0"], { timeout: 5000, env: {} }).status === 0;
  }
  return netnsWorks;
}

let confineWorks: boolean | undefined;

/**
 * Whether a command can be confined to a few paths here (`confine`): unprivileged user and mount
 * namespaces, tmpfs and bind mounts in them (a container may allow the namespace but not mounts).
 */
export function fileSystemConfinementAvailable(): boolean {
  if (confineWorks === undefined) {
    const unshare = systemTool("unshare");
    confineWorks = false;
    if (process.platform === "linux" && unshare !== undefined) {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-confine-probe-"));
      try {
        const visible = ["/usr", "/bin", "/lib", "/lib64"].filter((p) => fs.existsSync(p));
        const r = spawnSync(
          unshare,
          ["-rm", "--", "/bin/sh", "-c", CONFINE, "rust-kb-confine", root, unshare, String(visible.length), ...visible, "0", "/", "/bin/sh", "-c", "exit 0"],
          { timeout: 5000, env: {} },
        );
        confineWorks = r.status === 0;
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    }
  }
  return confineWorks;
}

/** The command line, with the wrappers this machine has, outermost first. */
function wrapped(command: string, args: readonly string[], options: GuardedSpawnOptions): { argv: string[]; isolation: Isolation } {
  const argv: string[] = [];
  const isolation: Isolation = { ownProcessGroup: false, diesWithWatchdog: false, limits: false, noNetwork: false, confined: false };
  const setsid = systemTool("setsid");
  if (setsid) {
    argv.push(setsid);
    isolation.ownProcessGroup = true;
  }
  // unshare before setpriv: entering a user namespace changes credentials, which clears the
  // parent-death signal, so that is set afterwards.
  isolation.noNetwork = options.noNetwork === true && networkNamespaceAvailable();
  isolation.confined = options.confine !== undefined && fileSystemConfinementAvailable();
  if (isolation.noNetwork || isolation.confined)
    argv.push(systemTool("unshare") as string, `-r${isolation.noNetwork ? "n" : ""}${isolation.confined ? "m" : ""}`, "--");
  if (isolation.confined && options.confine) {
    const { visible, rootDir, links = [] } = options.confine;
    argv.push("/bin/sh", "-c", CONFINE, "rust-kb-confine", rootDir, systemTool("unshare") as string, String(visible.length), ...visible);
    argv.push(String(links.length), ...links.flat(), options.cwd ?? "/");
  }
  const setpriv = systemTool("setpriv");
  if (setpriv && process.platform === "linux") {
    // A watchdog that died before the parent-death signal was set would never send it: the guard
    // checks that its parent is still the watchdog (whose pid it gets in RUST_KB_WATCHDOG, unset
    // before the command starts).
    argv.push(setpriv, "--pdeathsig", "KILL", "--", "/bin/sh", "-c", PARENT_GUARD, "rust-kb-guard");
    isolation.diesWithWatchdog = true;
  }
  const l = options.limits;
  const prlimit = systemTool("prlimit");
  if (l && prlimit && process.platform === "linux") {
    const flags: string[] = [];
    if (l.cpuSeconds !== undefined) flags.push(`--cpu=${l.cpuSeconds}:${l.cpuSeconds + 1}`);
    if (l.addressSpaceBytes !== undefined) flags.push(`--as=${l.addressSpaceBytes}`);
    if (l.fileSizeBytes !== undefined) flags.push(`--fsize=${l.fileSizeBytes}`);
    if (l.processes !== undefined) flags.push(`--nproc=${l.processes}`);
    if (flags.length > 0) {
      argv.push(prlimit, ...flags, "--");
      isolation.limits = true;
    }
  }
  argv.push(command, ...args);
  return { argv, isolation };
}

function decodeStatus(code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: NodeJS.Signals | null } {
  if (signal !== null || code === null || code <= 128) return { code, signal };
  const name = Object.entries(os.constants.signals).find(([, n]) => n === code - 128)?.[0] as NodeJS.Signals | undefined;
  return name ? { code: null, signal: name } : { code, signal };
}

function signalQuietly(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

export function spawnGuarded(command: string, args: readonly string[], options: GuardedSpawnOptions): GuardedProcess {
  const graceMs = options.graceMs ?? 5000;
  if (process.platform === "win32") {
    const child = spawn(command, [...args], { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    if (options.onStdout) child.stdout?.on("data", options.onStdout);
    if (options.onStderr) child.stderr?.on("data", options.onStderr);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal })),
    );
    let timer: NodeJS.Timeout | undefined;
    return {
      child,
      pid: Promise.resolve(child.pid),
      isolation: { ownProcessGroup: false, diesWithWatchdog: false, limits: false, noNetwork: false, confined: false },
      exited: exited.finally(() => clearTimeout(timer)),
      stop() {
        child.kill("SIGTERM");
        timer ??= setTimeout(() => child.kill("SIGKILL"), graceMs).unref();
      },
      kill() {
        child.kill("SIGKILL");
      },
    };
  }
  const { argv, isolation } = wrapped(command, args, options);
  const child = spawn("/bin/sh", ["-c", WATCHDOG, "rust-kb-watchdog", String(Math.max(0, graceMs) / 1000), ...argv], {
    cwd: options.cwd,
    env: options.env,
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  child.stdin?.on("error", () => {});
  if (options.onStdout) child.stdout?.on("data", options.onStdout);
  if (options.onStderr) child.stderr?.on("data", options.onStderr);
  let known: number | undefined;
  const pid = new Promise<number | undefined>((resolve) => {
    const report = child.stdio[3] as NodeJS.ReadableStream | null;
    if (!report) return resolve(undefined);
    let text = "";
    report.on("data", (d: Buffer) => {
      text += d.toString();
    });
    report.on("error", () => resolve(undefined));
    report.on("close", () => {
      const n = Number.parseInt(text.trim(), 10);
      known = Number.isInteger(n) && n > 0 ? n : undefined;
      resolve(known);
    });
  });
  let ended = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      ended = true;
      process.removeListener("exit", killOnExit);
      resolve(decodeStatus(code, signal));
    }),
  );
  child.on("error", () => {});
  const kill = () => {
    if (known !== undefined && !ended) {
      if (!(isolation.ownProcessGroup && signalQuietly(-known, "SIGKILL"))) signalQuietly(known, "SIGKILL");
    }
    child.stdin?.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  // Never leave the command behind if this process exits without stopping it (crash, process.exit).
  const killOnExit = () => kill();
  process.once("exit", killOnExit);
  return {
    child,
    pid,
    isolation,
    exited,
    stop() {
      // Closing the pipe makes the watchdog stop the command (SIGTERM, then SIGKILL after the grace period).
      child.stdin?.end();
    },
    kill,
  };
}

import fs from "node:fs";

/**
 * Whether a process with this pid exists on this machine and has not exited (EPERM: it exists but
 * is not ours). A zombie — exited, not yet reaped by its parent — still answers kill(pid, 0), so on
 * Linux its state in /proc/<pid>/stat ('Z', or 'X' for dead) counts as gone.
 */
export function isProcessAlive(pid: number, procRoot = "/proc"): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const state = procState(pid, procRoot);
  return state !== "Z" && state !== "X";
}

/** The one-letter state of /proc/<pid>/stat, or undefined where there is no /proc (macOS) or the process is gone. */
export function procState(pid: number, procRoot = "/proc"): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`${procRoot}/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
  const close = stat.lastIndexOf(")");
  return close < 0 ? undefined : stat.slice(close + 2, close + 3);
}

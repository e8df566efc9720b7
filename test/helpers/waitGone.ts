import { isProcessAlive } from "../../src/util/processAlive.ts";

/** Resolves true once the process has ended (a zombie counts as ended), false after `ms`. */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isProcessAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isProcessAlive(pid);
}

import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tsxEntryArgs } from "../../src/util/nodeEntry.ts";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (non-JSON lines dropped). */
  events: Record<string, unknown>[];
}

export interface CliHandle {
  child: ChildProcess;
  done: Promise<CliResult>;
  /** Resolves when a stdout JSON event matches. */
  waitFor(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Starts one of the repo's CLI entry points (`cli/<name>.ts`) with tsx, as `npm run <name>` would. */
export function startCli(name: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliHandle {
  const child = spawn(process.execPath, tsxEntryArgs(`cli/${name}.ts`, ...args), {
    cwd: options.cwd ?? REPO,
    // Model tests pin the in-process engine: the default ("auto") would switch to llama-server
    // wherever one is built. Tests of llama-server pass --backend llama-server or their own env.
    env: { ...process.env, NO_COLOR: "1", RUST_KB_BACKEND: "node-llama-cpp", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const events: Record<string, unknown>[] = [];
  const watchers: { pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let buf = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    buf += d;
    let i = buf.indexOf("\n");
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        for (const w of [...watchers]) {
          if (w.pred(e)) {
            watchers.splice(watchers.indexOf(w), 1);
            w.resolve(e);
          }
        }
      } catch {
        // not JSON
      }
      i = buf.indexOf("\n");
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, events }));
  });
  return {
    child,
    done,
    waitFor: (pred, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const hit = events.find(pred);
        if (hit) return resolve(hit);
        const t = setTimeout(() => reject(new Error(`timed out waiting for an event; stderr:\n${stderr}`)), timeoutMs);
        watchers.push({
          pred,
          resolve: (e) => {
            clearTimeout(t);
            resolve(e);
          },
        });
      }),
  };
}

export function runCli(name: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return startCli(name, args, options).done;
}

/** The `--json` summary: the last line of stdout (loosely typed: tests assert on its fields). */
// biome-ignore lint/suspicious/noExplicitAny: the summary is checked field by field by the tests
export function summaryOf(result: CliResult): Record<string, any> {
  const last = result.events[result.events.length - 1];
  if (!last || last.type !== "summary") throw new Error(`no summary line; stderr:\n${result.stderr}`);
  return last;
}

/**
 * External llama-server processes on loopback for tests and benchmarks of the model-server backend:
 * started as a user would start them (not by the pipeline), each with its own port and log, and
 * stopped (or killed mid-run) by the caller.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { freePort } from "../../src/util/freePort.ts";

export interface ExternalServer {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Everything the server printed. */
  log(): string;
  /** Generations the server finished (llama-server logs one "total time =" timing line per finished task). */
  chatRequests(): number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ServerArgs {
  bin: string;
  model: string;
  slots: number;
  /** Tokens per slot. */
  ctxPerSlot: number;
  threads?: number;
  extra?: string[];
  port?: number;
}

const started = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of started) p.kill("SIGKILL");
});

/** Starts one llama-server and waits until /health answers 200. */
export async function startLlamaServer(a: ServerArgs): Promise<ExternalServer> {
  const port = a.port ?? (await freePort());
  const threads = String(a.threads ?? 1);
  const args = [
    "-m",
    a.model,
    "-t",
    threads,
    "-tb",
    threads,
    "-np",
    String(a.slots),
    "-c",
    String(a.slots * a.ctxPerSlot),
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    ...(a.extra ?? []),
  ];
  // An empty environment: the server needs none, and it gets no secrets.
  const proc = spawn(a.bin, args, { stdio: ["ignore", "pipe", "pipe"], env: {} });
  started.add(proc);
  let log = "";
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-2_000_000);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => proc.on("close", () => resolve()));
  void exited.then(() => started.delete(proc));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`llama-server exited: ${log.slice(-3000)}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`llama-server did not start: ${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    proc,
    log: () => log,
    chatRequests: () => log.match(/total time =/g)?.length ?? 0,
    kill: async (signal = "SIGTERM") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

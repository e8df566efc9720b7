/** What the report says about the machine a benchmark ran on. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  gpu: string;
  os: string;
  node: string;
  load: string;
}

export function machineInfo(gpu = "none (CPU)"): MachineInfo {
  let flags = "";
  try {
    const info = fs.readFileSync("/proc/cpuinfo", "utf8");
    const f = /^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? "";
    flags = ["avx512f", "avx2", "neon"].filter((x) => f.split(" ").includes(x)).join(", ");
  } catch {
    // not Linux
  }
  let osName = `${os.type()} ${os.release()}`;
  try {
    osName = execFileSync("uname", ["-sm"], { encoding: "utf8" }).trim();
  } catch {
    // keep os.type()
  }
  return {
    cpu: `${os.cpus()[0]?.model ?? "unknown"}${flags ? ` (${flags})` : ""}`,
    cores: os.availableParallelism(),
    ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    gpu,
    os: osName,
    node: process.version,
    load: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" "),
  };
}

/** Samples this process's resident memory while `fn` runs; returns the peak in bytes. */
export async function peakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peak };
  } finally {
    clearInterval(t);
  }
}

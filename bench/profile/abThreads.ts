/**
 * Wall-clock A/B of generation speed for the profile (docs/PROFILE.md): llama.cpp's C API with and
 * without a persistent thread pool (bench/profile/refGenerate.cpp) against node-llama-cpp driven
 * several ways (bench/profile/nodeGenerate.ts). Configurations are interleaved, each sample waits
 * for a quiet machine (bench/quiet.ts) and is retried if others used the CPU meanwhile.
 *
 *   npx tsx bench/profile/abThreads.ts MODEL [--tokens 64] [--rounds 3] [--threads 1,2]
 *        [--configs ref,ref-pool,ref-omp,node-evaluate,node-chat,node-chat-norepeat,node-backend,alt-evaluate,...]
 *        [--sequences 1] [--alt-root DIR]
 */

import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { quietSample } from "../quiet.ts";
import { formatSummary, summarize } from "../stats.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const argv = process.argv.slice(2);
const model = argv[0];
if (!model) throw new Error("usage: abThreads.ts MODEL [--tokens N] [--rounds N] [--threads 1,2] [--configs ...]");
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? (argv[i + 1] ?? dflt) : dflt;
};
const tokens = opt("tokens", "64");
const rounds = Number(opt("rounds", "3"));
const sequences = opt("sequences", "1");
const threadList = opt("threads", "1,2").split(",");
const configs = opt("configs", "ref,ref-pool,node-evaluate,node-chat").split(",");
/** "alt-<mode>" configs run nodeGenerate.ts from a copy of the repo whose node_modules holds another node-llama-cpp build (e.g. a source build). */
const altRoot = opt("alt-root", "");

function runOnce(config: string, threads: string): number {
  if (config === "batched") {
    // llama-batched-bench with --sequences parallel sequences, no sampling: aggregate generation tok/s (S_TG)
    const n = Number(sequences);
    const args = [
      "-m",
      model as string,
      "-t",
      threads,
      "-tb",
      threads,
      "-c",
      String(n * (Number(tokens) + 64)),
      "-npp",
      "32",
      "-ntg",
      tokens,
      "-npl",
      sequences,
    ];
    const out = execFileSync(path.join(ROOT, "bench/.build/bin/llama-batched-bench"), [...args, "--output-format", "jsonl"], {
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
    const line = out.split("\n").find((l) => l.includes('"speed_tg"'));
    return line ? (JSON.parse(line) as { speed_tg: number }).speed_tg : Number.NaN;
  }
  if (config.startsWith("ref")) {
    const args = ["-m", model as string, "-t", threads, "-n", tokens, ...(config === "ref-pool" ? ["-tp"] : [])];
    // ref-omp: the same program against the OpenMP build (NLC_BENCH_OPENMP=ON bash bench/llamacpp/build.sh; bash bench/profile/buildRef.sh omp)
    const bin = config === "ref-omp" ? "bench/.build/bin-omp/ref-generate" : "bench/.build/bin/ref-generate";
    const out = execFileSync(path.join(ROOT, bin), args).toString();
    return Number(/= ([\d.]+) tok\/s/.exec(out)?.[1]);
  }
  // "@uvN": UV_THREADPOOL_SIZE=N; "@st": node --single-threaded (no V8 background threads); combinable ("@uv1st").
  const [base = config, variant = ""] = config.split("@");
  const uv = /uv(\d+)/.exec(variant)?.[1];
  const env = { ...process.env, ...(uv ? { UV_THREADPOOL_SIZE: uv } : {}) };
  const nodeFlags = variant.includes("st") ? ["--single-threaded"] : [];
  const alt = base.startsWith("alt-");
  if (alt && !altRoot) throw new Error("alt-* configs need --alt-root");
  const root = alt ? altRoot : ROOT;
  const mode = base.replace(/^(node|alt)-/, "");
  const script = path.join(root, "bench/profile/nodeGenerate.ts");
  const args = [
    ...nodeFlags,
    "--import",
    "tsx",
    script,
    path.resolve(model as string),
    "--mode",
    mode,
    "--tokens",
    tokens,
    "--threads",
    threads,
    "--sequences",
    sequences,
  ];
  const out = execFileSync("node", args, { cwd: root, env }).toString();
  return Number(/generation ([\d.]+) tok\/s/.exec(out)?.[1] ?? /: (\d+) tokens in (\d+) ms/.exec(out)?.[0]);
}

const results = new Map<string, number[]>();
let discarded = 0;
console.log(`load before: ${execFileSync("uptime").toString().trim()}`);
for (let r = 0; r < rounds; r++) {
  for (const t of threadList) {
    for (const c of configs) {
      const s = await quietSample(async () => runOnce(c, t));
      discarded += s.discarded;
      const key = `${c} t${t}`;
      results.set(key, [...(results.get(key) ?? []), s.value]);
      console.log(`${key}: ${s.value.toFixed(2)} tok/s (others used ${(s.otherShare * 100).toFixed(0)}% of a core)`);
    }
  }
}
console.log(`load after: ${execFileSync("uptime").toString().trim()}; samples thrown away for load: ${discarded}`);
console.log("\n| configuration | tok/s median (min-max) |\n|---|---|");
for (const [k, v] of results) console.log(`| ${k} | ${formatSummary(summarize(v))} |`);

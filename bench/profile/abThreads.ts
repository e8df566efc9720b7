/**
 * Wall-clock A/B of generation speed for the profile (docs/PROFILE.md): llama.cpp's C API with and
 * without a persistent thread pool (bench/profile/refGenerate.cpp) against node-llama-cpp driven
 * several ways (bench/profile/nodeGenerate.ts). Configurations are interleaved, each sample waits
 * for a quiet machine (bench/quiet.ts) and is retried if others used the CPU meanwhile.
 *
 *   npx tsx bench/profile/abThreads.ts MODEL [--tokens 64] [--rounds 3] [--threads 1,2]
 *        [--configs ref,ref-pool,node-evaluate,node-chat,node-chat-norepeat,node-backend] [--sequences 1]
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

function runOnce(config: string, threads: string): number {
  if (config.startsWith("ref")) {
    const args = ["-m", model as string, "-t", threads, "-n", tokens, ...(config === "ref-pool" ? ["-tp"] : [])];
    const out = execFileSync(path.join(ROOT, "bench/.build/bin/ref-generate"), args).toString();
    return Number(/= ([\d.]+) tok\/s/.exec(out)?.[1]);
  }
  const mode = config.replace(/^node-/, "");
  const out = execFileSync(
    "node",
    [
      "--import",
      "tsx",
      path.join(ROOT, "bench/profile/nodeGenerate.ts"),
      model as string,
      "--mode",
      mode,
      "--tokens",
      tokens,
      "--threads",
      threads,
      "--sequences",
      sequences,
    ],
    { cwd: ROOT },
  ).toString();
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

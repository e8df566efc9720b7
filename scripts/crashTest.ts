/**
 * `npx tsx scripts/crashTest.ts [--cycles 20] [--kills 2] [--files 4] [--seed 1] [--report FILE]`
 * The long form of the crash-test harness (scripts/crashHarness.ts); prints a durability table.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { KILL_POINTS, runCrashHarness } from "./crashHarness.ts";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    cycles: { type: "string", default: "10" },
    kills: { type: "string", default: "2" },
    files: { type: "string", default: "4" },
    seed: { type: "string", default: "1" },
    model: { type: "string", default: path.resolve(repo, "../shared/models/llama-2-tiny-random-chatml.gguf") },
    report: { type: "string" },
  },
});
const corpus = path.resolve(repo, "../shared/corpus/rust-research/rust-patterns/idioms");
const files = fs
  .readdirSync(corpus)
  .filter((f) => /\.(md|txt)$/.test(f))
  .sort()
  .slice(0, Number(values.files))
  .map((f) => path.join(corpus, f));
const started = Date.now();
const result = await runCrashHarness({
  repo,
  model: values.model,
  files,
  cycles: Number(values.cycles),
  killsPerCycle: Number(values.kills),
  seed: Number(values.seed),
  log: (l) => process.stderr.write(`${l}\n`),
});
const passed = result.cycles.filter((c) => c.identical && c.callsOk && c.tornPages.length === 0 && !c.error).length;
const lines = [
  `Crash harness: ${result.cycles.length} cycles x ${values.kills} SIGKILLs, ${files.length} files, model ${path.basename(values.model)}, seed ${values.seed}, ${os.cpus().length} CPUs, ${((Date.now() - started) / 1000).toFixed(0)} s`,
  `Reference run: ${result.referenceCalls} LLM calls in ${(result.referenceMs / 1000).toFixed(1)} s`,
  "",
  "| kill point | kills | cycles with it | cycles passed |",
  "|---|---|---|---|",
  ...KILL_POINTS.map((p) => `| ${p} | ${result.byPoint[p].kills} | ${result.byPoint[p].cycles} | ${result.byPoint[p].cyclesPassed} |`),
  `| **all** | ${result.cycles.reduce((a, c) => a + c.kills.length, 0)} | ${result.cycles.length} | ${passed} |`,
  "",
  ...result.cycles.filter((c) => c.error || c.tornPages.length > 0).map((c) => `cycle ${c.cycle} failed: ${c.error ?? ""} torn: ${c.tornPages.join(", ")}`),
];
process.stdout.write(`${lines.join("\n")}\n`);
if (values.report) fs.writeFileSync(values.report, `${lines.join("\n")}\n`);
process.exitCode = passed === result.cycles.length ? 0 : 1;

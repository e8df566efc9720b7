/**
 * The knowledge base at 1,000 entries (issue 25): is it still correct and fast? On a knowledge base
 * scripts/generateKb.ts wrote (generated here when `<dir>/kb` is missing):
 *
 * - search in process, and `npm run kb -- search|show|list` as processes;
 * - the site: a fresh build and a rebuild with nothing changed;
 * - the MCP server over stdio as an assistant starts it: connect, first search, later searches,
 *   get_pattern, list_categories, resources/list; its top hits against `kb search`'s for every
 *   query, and every get_pattern answer against the page on disk;
 * - watch mode: from a saved note to its run's start, discovery and summary.
 *
 *   npx tsx bench/kbScale.ts --dir /tmp/kb1000 [--entries 1000] [--no-watch]
 *
 * Prints a markdown report (the figures in docs/BENCHMARKS.md come from it).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { writeGeneratedNotes } from "../scripts/generateKb.ts";
import { parseGraphArgs } from "../src/commands/graph/parseGraphArgs.ts";
import { runWatchCommand } from "../src/commands/graph/runWatchCommand.ts";
import { runKbCommand } from "../src/commands/kb/kbCommand.ts";
import { readEnv } from "../src/config/env.ts";
import { KnowledgeBase } from "../src/kb/KnowledgeBase.ts";
import type { Entry } from "../src/kb/types.ts";
import { runPipeline } from "../src/run/runPipeline.ts";
import { REPO_ROOT, tsxEntryArgs } from "../src/util/nodeEntry.ts";
import { formatSummary, summarize } from "./stats.ts";

const { values } = parseArgs({ options: { dir: { type: "string" }, entries: { type: "string" }, "no-watch": { type: "boolean" } } });
if (!values.dir) throw new Error("usage: npx tsx bench/kbScale.ts --dir DIR [--entries 1000] [--no-watch]");
const dir = path.resolve(values.dir);
const kbDir = path.join(dir, "kb");
const entriesWanted = Number(values.entries ?? 1000);
const report: string[] = [];
const say = (line: string) => {
  report.push(line);
  process.stderr.write(`${line}\n`);
};
const ms = (xs: number[], digits = 1) => `${formatSummary(summarize(xs), digits)} ms`;
const time = <T>(fn: () => T): [T, number] => {
  const t = performance.now();
  const r = fn();
  return [r, performance.now() - t];
};
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(", ");

say(`# Knowledge base at scale: ${kbDir}`);
say(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), node ${process.version}; load average at start ${load()}`);

if (!fs.existsSync(path.join(kbDir, ".kb", "kb.sqlite"))) {
  const { input, notes, model } = writeGeneratedNotes(dir, entriesWanted);
  const t = performance.now();
  const s = await runPipeline(
    { input, out: kbDir, db: path.join(dir, "runs.sqlite"), research: ["input"], rustc: false, concurrency: 8 },
    { models: { backendFor: () => model, concurrency: 8 } },
  );
  say(`generated: ${notes} notes -> ${s.patterns} entries through runPipeline (scripted model) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

// --- in process: open, search, find ---
const [kb, openMs] = time(() => KnowledgeBase.openReadOnly(kbDir));
const entries = kb.entries();
say(`\n## ${entries.length} entries, ${kb.contributions().length} drafts`);
say(`- open read-only (store copied into memory): ${openMs.toFixed(1)} ms; entries() parse: ${time(() => kb.entries())[1].toFixed(1)} ms`);
const queries = buildQueries(entries);
const searchTimes = queries.map((q) => time(() => kb.search(q, 10))[1]);
say(`- search in process, ${queries.length} queries: ${ms(searchTimes, 2)} (median, min-max)`);
const findTimes = entries.slice(0, 200).map((e) => time(() => kb.findEntry(e.name))[1]);
say(`- findEntry by name (as \`kb show NAME\`), 200 entries: ${ms(findTimes, 2)}`);

// --- correctness: pages, kb.json and search agree ---
const pages = new Set(fs.readdirSync(path.join(kbDir, "patterns")).map((f) => f.replace(/\.md$/, "")));
const kbJson = JSON.parse(fs.readFileSync(path.join(kbDir, "kb.json"), "utf8")) as { entries: Entry[] };
const slugs = new Set(entries.map((e) => e.slug));
const agree = pages.size === slugs.size && [...slugs].every((s) => pages.has(s)) && kbJson.entries.length === entries.length;
say(`- pages, kb.json and the store list the same ${entries.length} entries: ${agree ? "yes" : "NO"}`);
const firstByName = entries.filter((e) => kb.search(e.name, 1)[0]?.slug === e.slug).length;
say(`- searching an entry's exact name gives that entry first: ${firstByName} of ${entries.length}`);

// --- the CLI as processes ---
/** Wall and CPU (user + system) time of a `npm run kb` command's process, measured by /usr/bin/time where it exists. */
const cli = (...args: string[]) => {
  const argv = [...tsxEntryArgs("cli/kb.ts", ...args, "--out", kbDir)];
  const timed = fs.existsSync("/usr/bin/time");
  const t = performance.now();
  const r = timed
    ? spawnSync("/usr/bin/time", ["-f", "CPU %U %S", process.execPath, ...argv], { cwd: REPO_ROOT, encoding: "utf8" })
    : spawnSync(process.execPath, argv, { cwd: REPO_ROOT, encoding: "utf8" });
  const wall = performance.now() - t;
  const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr ?? "");
  return { ms: wall, cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : Number.NaN, stdout: r.stdout, code: r.status };
};
const both = (runs: { ms: number; cpuMs: number }[]) =>
  `${ms(
    runs.map((r) => r.ms),
    0,
  )} wall, ${ms(
    runs.map((r) => r.cpuMs),
    0,
  )} CPU`;
const someSlug = entries[Math.floor(entries.length / 2)]?.slug ?? "";
say("\n## `npm run kb` as a process (node + tsx start included; 3 runs each)");
say(`- search "borrow iterator": ${both([1, 2, 3].map(() => cli("search", "borrow iterator")))}`);
say(`- show ${someSlug}: ${both([1, 2, 3].map(() => cli("show", someSlug)))}`);
say(`- list: ${both([1, 2, 3].map(() => cli("list")))}`);

// --- the site ---
const siteDir = path.join(dir, "site-bench");
fs.rmSync(siteDir, { recursive: true, force: true });
const fresh = cli("site", "--site-dir", siteDir);
const again = cli("site", "--site-dir", siteDir);
const siteFiles = fs.readdirSync(siteDir, { recursive: true }).length;
say("\n## Site (`npm run kb -- site`, process wall time)");
say(
  `- fresh build: ${(fresh.ms / 1000).toFixed(1)} s wall, ${(fresh.cpuMs / 1000).toFixed(1)} s CPU (${siteFiles} files and folders); rebuild with nothing changed: ${(again.ms / 1000).toFixed(1)} s wall, ${(again.cpuMs / 1000).toFixed(1)} s CPU`,
);

// --- MCP over stdio ---
say("\n## MCP server over stdio (`node --import tsx cli/kb.ts mcp`, the SDK's client)");
const t0 = performance.now();
const transport = new StdioClientTransport({
  command: process.execPath,
  args: tsxEntryArgs("cli/kb.ts", "mcp", "--kb", kbDir),
  cwd: REPO_ROOT,
  stderr: "ignore",
});
const client = new Client({ name: "kb-scale", version: "1" });
await client.connect(transport);
const connected = performance.now() - t0;
type Tool = { content: { text?: string }[]; structuredContent?: { hits?: { slug: string }[] }; isError?: boolean };
const search = async (query: string) => (await client.callTool({ name: "search_patterns", arguments: { query } })) as Tool;
const firstHits = await search("borrow iterator");
const firstSearch = performance.now() - t0;
const serverCpu = processCpuMs(transport.pid);
say(
  `- process start to initialized: ${connected.toFixed(0)} ms; to the first search's answer: ${firstSearch.toFixed(0)} ms wall (the server's CPU time by then: ${serverCpu.toFixed(0)} ms)`,
);
const later: number[] = [];
let same = 0;
for (const q of queries) {
  const t = performance.now();
  const r = await search(q);
  later.push(performance.now() - t);
  if (JSON.stringify(r.structuredContent?.hits?.map((h) => h.slug)) === JSON.stringify(cliSearch(q))) same++;
}
say(`- later searches, ${queries.length} queries: ${ms(later)}; top hits equal to \`kb search\`'s: ${same} of ${queries.length}`);
void firstHits;
const gets: number[] = [];
let samePage = 0;
for (const e of entries.slice(0, 300)) {
  const t = performance.now();
  const r = (await client.callTool({ name: "get_pattern", arguments: { ref: e.slug } })) as Tool;
  gets.push(performance.now() - t);
  if (r.content[0]?.text === fs.readFileSync(path.join(kbDir, "patterns", `${e.slug}.md`), "utf8")) samePage++;
}
say(`- get_pattern, 300 entries: ${ms(gets)}; answer equal to the page on disk: ${samePage} of 300`);
let t = performance.now();
await client.callTool({ name: "list_categories", arguments: {} });
say(`- list_categories: ${(performance.now() - t).toFixed(1)} ms`);
t = performance.now();
const listed = await client.listResources();
say(`- resources/list: ${(performance.now() - t).toFixed(1)} ms for ${listed.resources.length} resources (${JSON.stringify(listed).length} bytes)`);
await client.close();

// --- watch ---
if (!values["no-watch"]) await watchBench();

say(`\nload average at the end: ${load()}`);
process.stdout.write(`${report.join("\n")}\n`);
kb.close();

/** CPU time (user + system) a live process has used, from /proc (NaN elsewhere). */
function processCpuMs(pid: number | null): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return Number.NaN;
  }
}

function cliSearch(query: string): string[] {
  const stdout = new PassThrough();
  runKbCommand({ command: { kind: "search", query, limit: 10 }, out: kbDir, json: true }, { stdout, stderr: new PassThrough() });
  return (JSON.parse(stdout.read()?.toString() ?? "{}").hits as { slug: string }[]).map((h) => h.slug);
}

/** Names, single words, prefixes, lints, guideline IDs and phrases from the entries (fixed picks). */
function buildQueries(list: readonly Entry[]): string[] {
  const qs = new Set<string>(["error", "borrow", "iterator adapter", "clone", "zero-cost", "C-BUILDER", "unwrap_used", "lock guard", "buff", "state machine"]);
  for (let i = 0; i < list.length && qs.size < 100; i += Math.max(1, Math.floor(list.length / 90))) {
    const e = list[i];
    if (!e) continue;
    const words = e.name.split(" ");
    qs.add(i % 3 === 0 ? e.name : i % 3 === 1 ? (words.at(-1) ?? e.name) : `${words[0]} ${words.at(-1)}`);
    for (const l of e.crossRefs.clippy) qs.add(l);
  }
  return [...qs];
}

async function watchBench(): Promise<void> {
  const { input, model } = writeGeneratedNotes(dir, entriesWanted, 1, false);
  const parsed = parseGraphArgs([
    "--input",
    input,
    "--out",
    kbDir,
    "--db",
    path.join(dir, "runs.sqlite"),
    "--research",
    "input",
    "--watch",
    "--json",
    "--concurrency",
    "8",
  ]);
  if (parsed.kind !== "run") throw new Error("parse");
  const lines: { type?: string; at: number }[] = [];
  const stdout = new PassThrough();
  let buf = "";
  stdout.setEncoding("utf8").on("data", (d: string) => {
    buf += d;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      lines.push({ ...(JSON.parse(buf.slice(0, i)) as { type?: string }), at: performance.now() });
      buf = buf.slice(i + 1);
    }
  });
  let stop: (() => void) | undefined;
  const done = runWatchCommand(
    { ...parsed.options, rustc: false },
    {
      stdout,
      stderr: new PassThrough(),
      env: readEnv({}),
      onSignal: (h) => {
        stop = () => h("SIGINT");
        return () => {};
      },
      exitNow: () => {
        throw new Error("exitNow");
      },
      models: { backendFor: () => model, concurrency: 8 },
    },
  );
  const waitFor = async (pred: () => boolean) => {
    while (!pred()) await new Promise((r) => setTimeout(r, 5));
  };
  const startedAt = performance.now();
  await waitFor(() => lines.some((l) => l.type === "watching"));
  const first = lines.find((l) => l.type === "summary");
  say(`\n## Watch mode over ${input} (in process, scripted model)`);
  say(`- first run, nothing changed since the KB was built: ${(((first?.at ?? 0) - startedAt) / 1000).toFixed(1)} s`);
  const note =
    fs
      .readdirSync(input, { recursive: true })
      .map(String)
      .find((f) => f.endsWith(".md")) ?? "";
  const samples: { start: number; discovered: number; summary: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const n = lines.length;
    const saved = performance.now();
    fs.appendFileSync(path.join(input, note), `\nEdit ${i} at ${new Date().toISOString()}.\n`);
    await waitFor(() => lines.slice(n).some((l) => l.type === "watching"));
    const after = lines.slice(n);
    const at = (type: string) => (after.find((l) => l.type === type)?.at ?? Number.NaN) - saved;
    samples.push({ start: at("run_started"), discovered: at("files_discovered"), summary: at("summary") });
  }
  say(
    `- a saved note to its run's start: ${ms(
      samples.map((s) => s.start),
      0,
    )} (debounce 300 ms included)`,
  );
  say(
    `- ... to discovery done (all ${fs.readdirSync(input, { recursive: true }).length} paths hashed, 1 to process): ${ms(
      samples.map((s) => s.discovered),
      0,
    )}`,
  );
  say(
    `- ... to the run's summary (the note processed, ${entries.length} pages finalized): ${ms(
      samples.map((s) => s.summary),
      0,
    )}`,
  );
  stop?.();
  await done;
}

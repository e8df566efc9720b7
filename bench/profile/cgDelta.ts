/**
 * Per-token instruction counts from two callgrind runs of the same program that differ only in
 * the number of generated tokens: (Ir(long) - Ir(short)) / (tokens(long) - tokens(short)), per
 * function and per group. Start-up, model load and prompt processing cancel out.
 *
 *   npx tsx bench/profile/cgDelta.ts SHORT.cg LONG.cg TOKEN_DELTA [--top 25] [--grep REGEX]
 */

import { execFileSync } from "node:child_process";

const [shortFile, longFile, deltaArg, ...rest] = process.argv.slice(2);
if (!shortFile || !longFile || !deltaArg) throw new Error("usage: cgDelta.ts SHORT.cg LONG.cg TOKEN_DELTA [--top N] [--grep RE]");
const tokenDelta = Number(deltaArg);
const top = Number(rest[rest.indexOf("--top") + 1] ?? 25) || 25;
const grepIdx = rest.indexOf("--grep");
const grep = grepIdx >= 0 ? new RegExp(rest[grepIdx + 1] ?? ".") : undefined;

function functionTotals(file: string): { total: number; fns: Map<string, number> } {
  const out = execFileSync("callgrind_annotate", ["--threshold=100", "--inclusive=no", "--auto=no", file], { maxBuffer: 1 << 28 }).toString();
  const fns = new Map<string, number>();
  let total = 0;
  for (const line of out.split("\n")) {
    const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!m) continue;
    const n = Number((m[1] ?? "0").replace(/,/g, ""));
    const name = (m[2] ?? "").trim();
    if (name.startsWith("PROGRAM TOTALS")) {
      total = n;
      continue;
    }
    // JIT code has no symbols and a new address every run: pool it.
    const key = /^\?\?\?:0x[0-9a-f]+ \[\?\?\?\]$/.test(name)
      ? "??? (V8 JIT-compiled JavaScript, no symbols)"
      : name.replace(/ \[[^\]]*\/([^/\]]+)\]$/, " [$1]");
    fns.set(key, (fns.get(key) ?? 0) + n);
  }
  return { total, fns };
}

/** Coarse groups by where the function lives. */
export function groupOf(fn: string): string {
  if (fn.includes("V8 JIT")) return "JavaScript (JIT code)";
  if (/\[node\]$/.test(fn)) return "node/V8 runtime (GC, compiler, builtins, libuv)";
  if (/llama-addon\.node\]$/.test(fn)) return "node-llama-cpp addon";
  if (/ggml_vec_dot|ggml_gemv|ggml_gemm|quantize_row|ggml_compute_forward_mul_mat|mul_mat/.test(fn)) return "ggml matmul kernels";
  if (/ggml_barrier|ggml_graph_compute_thread|ggml_thread|threadpool|sched_yield/.test(fn)) return "ggml threading (barriers, thread pool)";
  if (/llama_sampler|sampler|std::sort|__introsort|__adjust_heap|__insertion_sort|__partial_sort|_M_find|unordered|_Hashtable/.test(fn))
    return "sampling (llama_sampler_*, sort, hash lookups)";
  if (/libggml|ggml_/.test(fn)) return "ggml other ops";
  if (/libllama/.test(fn)) return "libllama (graph build, batch, kv cache)";
  if (/libc\.so|libstdc\+\+|libm\.so|ld-linux/.test(fn)) return "libc/libstdc++ (memcpy, malloc, ...)";
  return "other";
}

const a = functionTotals(shortFile);
const b = functionTotals(longFile);
const names = new Set([...a.fns.keys(), ...b.fns.keys()]);
const rows: Array<{ fn: string; perToken: number }> = [];
for (const fn of names) {
  const d = ((b.fns.get(fn) ?? 0) - (a.fns.get(fn) ?? 0)) / tokenDelta;
  if (grep && !grep.test(fn)) continue;
  rows.push({ fn, perToken: d });
}
const perToken = (b.total - a.total) / tokenDelta;
const groups = new Map<string, number>();
for (const r of rows) groups.set(groupOf(r.fn), (groups.get(groupOf(r.fn)) ?? 0) + r.perToken);
const fmt = (n: number) => `${(n / 1e6).toFixed(2)} M`;
const pct = (n: number) => `${((n / perToken) * 100).toFixed(1)}%`;
console.log(`Per generated token: ${fmt(perToken)} instructions (${shortFile} -> ${longFile}, ${tokenDelta} tokens)\n`);
console.log("| group | Ir per token | share |\n|---|---:|---:|");
for (const [g, n] of [...groups].sort((x, y) => y[1] - x[1])) console.log(`| ${g} | ${fmt(n)} | ${pct(n)} |`);
console.log("\n| function | Ir per token | share |\n|---|---:|---:|");
for (const r of rows.sort((x, y) => y.perToken - x.perToken).slice(0, top))
  console.log(`| \`${r.fn.slice(0, 140)}\` | ${fmt(r.perToken)} | ${pct(r.perToken)} |`);

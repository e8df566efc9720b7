/**
 * Names the llama-server binary a run will start: where it was found, its version and whether it
 * carries the project's grammar patch (bench/llamacpp/patches/grammar-candidates.diff). A
 * llama-server from elsewhere (Homebrew's on a Mac, say) works, but as shipped llama.cpp masks the
 * whole vocabulary on every grammar rejection, which leaves it at about half its free rate under the
 * pipeline's JSON grammar (src/llm/engineSpeed.ts).
 *
 * Cheap: the project's builds (the build cache, bench/llamacpp/build.sh's folder) carry a build-info.json that lists
 * the patches they were built with; any other binary is asked `--help`, where the patched one lists
 * `--grammar-candidates`. The version comes from `--version`. Each probe has a timeout and never
 * throws: what cannot be told is reported as unknown.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ToolOrigin } from "../util/llamaCppTools.ts";
import { unpatchedServerCost } from "./engineSpeed.ts";

export interface LlamaServerIdentity {
  path: string;
  origin: ToolOrigin;
  /** From `--version`'s "version: ..." line ("6810 (80fb11ac)", "0.4.0-dev (build 1, commit 80fb11a)"); undefined when it printed none. */
  version: string | undefined;
  /** Whether it carries the project's grammar patch; undefined when neither build-info.json nor `--help` could tell. */
  patched: boolean | undefined;
}

/** Runs the binary with one argument and resolves its stdout and stderr together ("" when it could not run). */
export type ToolRunner = (bin: string, args: readonly string[]) => Promise<string>;

const PROBE_TIMEOUT_MS = 10_000;

const runTool: ToolRunner = (bin, args) =>
  new Promise((resolve) => {
    execFile(bin, [...args], { timeout: PROBE_TIMEOUT_MS, maxBuffer: 8 * 2 ** 20 }, (_err, stdout, stderr) => resolve(`${stdout ?? ""}\n${stderr ?? ""}`));
  });

/** The patch list of the project's own builds: build-info.json beside the binary (a build folder) or one folder up (the cache). */
function buildInfoPatches(bin: string): string | undefined {
  for (const file of [path.join(path.dirname(bin), "build-info.json"), path.join(path.dirname(bin), "..", "build-info.json")]) {
    try {
      const info = JSON.parse(fs.readFileSync(file, "utf8")) as { patches?: unknown };
      if (typeof info.patches === "string") return info.patches;
    } catch {
      // not there, or not ours
    }
  }
  return undefined;
}

export async function identifyLlamaServer(bin: string, origin: ToolOrigin, run: ToolRunner = runTool): Promise<LlamaServerIdentity> {
  const versionText = await run(bin, ["--version"]);
  // "version: 6810 (80fb11ac)" (older llama.cpp, Homebrew's) or "version: 0.4.0-dev (build 1, commit 80fb11a)".
  const version = /^version:\s*(\S.*?)\s*$/m.exec(versionText)?.[1];
  const listed = buildInfoPatches(bin);
  let patched: boolean | undefined;
  if (listed !== undefined) patched = /(^|\s)grammar-candidates@/.test(listed);
  else {
    const help = await run(bin, ["--help"]);
    patched = help.includes("--grammar-candidates") ? true : /--grammar\b/.test(help) ? false : undefined;
  }
  return { path: bin, origin, version, patched };
}

const ORIGIN_TEXT: Record<ToolOrigin, string> = {
  "build cache": "from the build cache",
  "build folder": "from a build folder",
  PATH: "found on PATH",
  explicit: "set by RUST_KB_LLAMA_SERVER",
};

/** One phrase naming the binary, and, when it is not known to be patched, one sentence on what that costs. */
export function describeLlamaServer(id: LlamaServerIdentity): { name: string; cost: string | undefined } {
  const patch =
    id.patched === true ? "with the project's grammar patch" : id.patched === false ? "without the project's grammar patch" : "grammar patch unknown";
  const name = `llama-server${id.version ? ` ${id.version}` : ""} ${ORIGIN_TEXT[id.origin]} (${id.path}), ${patch}`;
  return { name, cost: id.patched === true ? undefined : `llama-server ${unpatchedServerCost(id.origin)}` };
}

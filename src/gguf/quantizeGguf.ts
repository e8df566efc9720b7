/**
 * Q4_K_M (and other k-quants) come from llama.cpp's own `llama-quantize`, so a synthetic file gets
 * exactly the per-tensor type choices and fallbacks of a real Q4_K_M file (for example
 * Qwen2.5-0.5B's 896-wide rows falling back to q5_0/q8_0). The tool is built by
 * `bash bench/llamacpp/build.sh` from the llama.cpp source node-llama-cpp ships.
 */

import { spawn } from "node:child_process";
import fs from "node:fs";
import { UserError } from "../errors.ts";
import { findLlamaCppTool, type ToolSearch, toolSearchDescription } from "../util/llamaCppTools.ts";

export interface QuantizeGgufOptions {
  inPath: string;
  outPath: string;
  /** llama-quantize type name, e.g. "Q4_K_M". */
  type: string;
  threads: number;
  /** Where llama-quantize is looked for (the benches add bench/.build/bin, where `bash bench/llamacpp/build.sh` puts it). */
  toolSearch: ToolSearch;
  /** Path of llama-quantize; default: the one `toolSearch` finds. */
  quantizeBin?: string;
  /** Needed when the input is already quantized (Q8_0): quality is irrelevant for random weights. */
  allowRequantize?: boolean;
}

/** Runs llama-quantize; writes through a temporary file renamed on success. */
export async function quantizeGguf(options: QuantizeGgufOptions): Promise<string> {
  const bin = options.quantizeBin ?? findLlamaCppTool("llama-quantize", options.toolSearch);
  if (!bin)
    throw new UserError(
      "MODEL_NOT_FOUND",
      `llama-quantize is needed to make a ${options.type} file and was not found (looked in ${toolSearchDescription(options.toolSearch)}).`,
      "Build llama.cpp's tools once with `bash bench/llamacpp/build.sh` (offline, ~15 min on 2 cores), or use --quant Q8_0.",
    );
  const tmp = `${options.outPath}.${process.pid}.tmp`;
  const args = [...(options.allowRequantize ? ["--allow-requantize"] : []), options.inPath, tmp, options.type, String(options.threads)];
  const log: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (d: Buffer) => {
      log.push(d.toString());
      if (log.length > 200) log.shift();
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`llama-quantize exited with ${code}:\n${log.join("").slice(-4000)}`);
  }
  fs.renameSync(tmp, options.outPath);
  return options.outPath;
}

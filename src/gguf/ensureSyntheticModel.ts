/**
 * Cached synthetic-shape models: `ensureSyntheticModel({shape: "qwen2.5-0.5b", quant: "Q4_K_M"})`
 * returns the path of `.bench/models/synthetic-qwen2.5-0.5b-Q4_K_M.gguf`, writing it first if it
 * is not there (Q4_K_M through an F16 file and llama.cpp's llama-quantize).
 */

import fs from "node:fs";
import path from "node:path";
import type { ToolSearch } from "../util/llamaCppTools.ts";
import { quantizeGguf } from "./quantizeGguf.ts";
import { readGgufHeader } from "./readGgufHeader.ts";
import { resolveShape, SYNTHETIC_GENERATOR_VERSION, type SyntheticShape, type SyntheticShapeName, writeSyntheticGguf } from "./writeSyntheticGguf.ts";

/** True when the file exists and was written by the current generator version. */
function isCurrent(file: string): boolean {
  if (!fs.existsSync(file)) return false;
  try {
    return readGgufHeader(file).metadata.get("synthetic.generator_version") === SYNTHETIC_GENERATOR_VERSION;
  } catch {
    return false;
  }
}

export type SyntheticModelQuant = "Q8_0" | "F16" | "Q4_K_M";

export interface EnsureSyntheticModelOptions {
  shape: SyntheticShapeName | SyntheticShape;
  quant: SyntheticModelQuant;
  /** Cache folder (default `.bench/models` under the current directory; git-ignored). */
  cacheDir?: string;
  /** Where llama-quantize is looked for when a Q4_K_M file has to be made (src/util/llamaCppTools.ts). */
  toolSearch: ToolSearch;
  /** Threads for llama-quantize. */
  threads?: number;
  /** Keep the F16 intermediate of a Q4_K_M file (default false: it is 4x the size). */
  keepF16?: boolean;
  /** Called with a line when a file has to be written (it can take a minute). */
  onProgress?: (line: string) => void;
}

function syntheticModelPath(shape: SyntheticShapeName | SyntheticShape, quant: SyntheticModelQuant, cacheDir = ".bench/models"): string {
  return path.join(cacheDir, `synthetic-${resolveShape(shape).name}-${quant}.gguf`);
}

export async function ensureSyntheticModel(options: EnsureSyntheticModelOptions): Promise<string> {
  const cacheDir = options.cacheDir ?? ".bench/models";
  const target = syntheticModelPath(options.shape, options.quant, cacheDir);
  if (isCurrent(target)) return target;
  fs.mkdirSync(cacheDir, { recursive: true });
  if (options.quant !== "Q4_K_M") {
    options.onProgress?.(`writing ${target}`);
    await writeSyntheticGguf({ shape: options.shape, quant: options.quant, outPath: target });
    return target;
  }
  const f16 = syntheticModelPath(options.shape, "F16", cacheDir);
  const hadF16 = isCurrent(f16);
  if (!hadF16) {
    options.onProgress?.(`writing ${f16}`);
    await writeSyntheticGguf({ shape: options.shape, quant: "F16", outPath: f16 });
  }
  options.onProgress?.(`quantizing to ${target} with llama-quantize`);
  await quantizeGguf({ inPath: f16, outPath: target, type: "Q4_K_M", threads: options.threads ?? 1, toolSearch: options.toolSearch });
  if (!hadF16 && !options.keepF16) fs.rmSync(f16, { force: true });
  return target;
}

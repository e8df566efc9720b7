import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { UserError } from "../errors.ts";

/**
 * The default model: Qwen2.5-0.5B-Instruct, Q4_K_M (about 490 MB). Chosen because it is the
 * smallest widely used instruct model that follows JSON-schema grammars and multi-field
 * instructions reliably, it has a 32k context, an Apache-2.0 licence and a ChatML template
 * node-llama-cpp knows, and at ~0.5B parameters 30 agents share one copy in well under 2 GB
 * (weights + KV cache). Llama-3.2-1B-Instruct Q4_K_M (~810 MB) is better at prose but over the
 * 300-700 MB budget and about half as fast.
 */
export const DEFAULT_MODEL = {
  name: "Qwen2.5-0.5B-Instruct Q4_K_M",
  uri: "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf",
  url: "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf",
  fileName: "qwen2.5-0.5b-instruct-q4_k_m.gguf",
  approxMb: 490,
} as const;

/** node-llama-cpp's standard models directory. */
export function defaultModelsDir(): string {
  return path.join(os.homedir(), ".node-llama-cpp", "models");
}

export function isRemoteSpec(spec: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(spec);
}

export interface ResolveModelOptions {
  /** Where downloads go and URIs are looked up. */
  modelsDir?: string;
  onProgress?: (status: { downloadedBytes: number; totalBytes: number }) => void;
  signal?: AbortSignal;
  /** How long to wait for the model host before calling the machine offline. */
  probeTimeoutMs?: number;
  /** Stop a download that makes no progress for this long. */
  stallTimeoutMs?: number;
  /** Never touch the network (RUST_KB_OFFLINE=1): a missing model fails at once. */
  offline?: boolean;
  /** Test hook: checks that the download host answers. */
  probe?: (url: string, timeoutMs: number) => Promise<boolean>;
}

/**
 * Finds the model file for `spec` (a path, or an hf:/https: URI resolved through node-llama-cpp's
 * resolver), downloading it once when it is remote and not yet present. Offline without the file,
 * it fails before any work starts with a message that says how to get one.
 */
export async function resolveModel(spec: string, options: ResolveModelOptions = {}): Promise<string> {
  if (!isRemoteSpec(spec)) {
    const p = path.resolve(spec);
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st?.isFile())
      throw new UserError(
        "MODEL_NOT_FOUND",
        `No model file at ${p}.`,
        `Pass --model with the path of a .gguf file, or an hf: URI such as ${DEFAULT_MODEL.uri} (downloaded once), or leave --model out to use the default model.`,
      );
    return p;
  }
  const { resolveModelFile } = await import("node-llama-cpp");
  const directory = options.modelsDir ? path.resolve(options.modelsDir) : defaultModelsDir();
  try {
    return await resolveModelFile(spec, { directory, download: false, cli: false });
  } catch {
    // not downloaded yet
  }
  const host = spec.startsWith("http") ? new URL(spec).origin : "https://huggingface.co";
  const probe = options.probe ?? defaultProbe;
  const reachable = options.offline ? false : await probe(host, options.probeTimeoutMs ?? 8000);
  if (!reachable) throw offlineError(spec, directory, host);
  fs.mkdirSync(directory, { recursive: true });
  const stall = new AbortController();
  const stallMs = options.stallTimeoutMs ?? 60_000;
  let timer = setTimeout(() => stall.abort(new Error("download stalled")), stallMs);
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
  try {
    return await resolveModelFile(spec, {
      directory,
      download: "auto",
      cli: false,
      signal,
      onProgress: ({ totalSize, downloadedSize }) => {
        clearTimeout(timer);
        timer = setTimeout(() => stall.abort(new Error("download stalled")), stallMs);
        options.onProgress?.({ downloadedBytes: downloadedSize, totalBytes: totalSize });
      },
    });
  } catch (e) {
    if (options.signal?.aborted) throw e;
    throw new UserError(
      "MODEL_DOWNLOAD_FAILED",
      `Downloading ${spec} failed: ${(e as Error).message}.`,
      `Run the same command again to resume the download, or download it yourself and pass --model /path/to/file.gguf. Models go to ${directory}.`,
      { cause: e },
    );
  } finally {
    clearTimeout(timer);
  }
}

function offlineError(spec: string, directory: string, host: string): UserError {
  const isDefault = spec === DEFAULT_MODEL.uri;
  const what = isDefault ? `The default model (${DEFAULT_MODEL.name}, about ${DEFAULT_MODEL.approxMb} MB)` : `The model ${spec}`;
  const url = isDefault ? DEFAULT_MODEL.url : spec.replace(/^hf:/, "https://huggingface.co/");
  return new UserError(
    "MODEL_NOT_FOUND",
    `${what} is not downloaded yet and ${host} cannot be reached from this machine, so there is no model to run. Nothing was processed.`,
    [
      "Do one of:",
      "  1. Connect to the internet and run the same command again: the model is downloaded once, with a progress bar.",
      `  2. On a machine with internet, download ${url}`,
      "     then run with --model /path/to/that-file.gguf (or set RUST_KB_MODEL=/path/to/that-file.gguf).",
      `  3. Put any GGUF instruct model in ${directory} and pass --model with its path.`,
    ].join("\n"),
  );
}

async function defaultProbe(url: string, timeoutMs: number): Promise<boolean> {
  try {
    await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}

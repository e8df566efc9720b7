import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../errors.ts";
import { loadLlamaCpp } from "./llamaCpp.ts";
import { stallGuard } from "./stallGuard.ts";

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

/**
 * URL-encoded path separators, dots and NUL (`%2F`, `%5C`, `%2E`, `%00`, also double-encoded as
 * `%252F` …): a remote spec with any of them is refused, since a decoded name could leave the
 * models directory (`%2E%2E%2F`) or name something other than what the user read.
 */
const ENCODED_SEPARATOR = /%(25)*(2f|5c|2e|00)/i;

/** The decoded last path segment of a URL ("" when it cannot be decoded, which the caller refuses). */
export function urlFileName(url: string): string {
  try {
    return decodeURIComponent(path.posix.basename(new URL(url).pathname));
  } catch {
    return "";
  }
}

/** Refuses a remote spec whose path hides separators or dots in percent-encoding. */
export function assertNoEncodedSeparators(spec: string): void {
  const m = ENCODED_SEPARATOR.exec(spec);
  if (m)
    throw new UserError(
      "USAGE",
      `${spec} contains the URL-encoded character ${m[0]} (a path separator, dot or NUL in disguise); model file names must be plain names.`,
      "Use the URI or URL with the file name written out (for example hf:user/repo/model.Q4_K_M.gguf), not percent-encoded.",
    );
}

/**
 * A model file name as it will be written in the models directory: a plain base name, no
 * separators (either kind), not `.`/`..`, no NUL or control characters. Returns the name or throws.
 */
export function assertPlainFileName(name: string, from: string): string {
  const bad = name === "" || name === "." || name === ".." || /[/\\\u0000-\u001f\u007f]/.test(name) || path.basename(name) !== name;
  if (bad)
    throw new UserError(
      "USAGE",
      `${from} gives the file name ${JSON.stringify(name)}, which is not a plain file name; nothing was written.`,
      "Pull a URI or URL whose last path segment is a plain .gguf file name.",
    );
  return name;
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
  const { resolveModelFile } = await loadLlamaCpp();
  const directory = options.modelsDir ? path.resolve(options.modelsDir) : defaultModelsDir();
  try {
    return await resolveModelFile(spec, { directory, download: false, cli: false });
  } catch {
    // not downloaded yet
  }
  const host = modelHost(spec);
  const probe = options.probe ?? probeHost;
  const reachable = options.offline ? false : await probe(host, options.probeTimeoutMs ?? 8000);
  if (!reachable) throw offlineError(spec, directory, host);
  fs.mkdirSync(directory, { recursive: true });
  const stall = stallGuard(options.stallTimeoutMs ?? 60_000, () => new Error("download stalled"));
  stall.arm();
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
  try {
    return await resolveModelFile(spec, {
      directory,
      download: "auto",
      cli: false,
      // Keep the partial file on abort or stall so that running again resumes (as the hint below says).
      deleteTempFileOnCancel: false,
      signal,
      onProgress: ({ totalSize, downloadedSize }) => {
        stall.arm();
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
    stall.clear();
  }
}

/**
 * The project's own trained test model (test/fixtures/models/rust-kb-tiny.md), as a path the user can
 * type from where they are; undefined where it is not installed. It answers every step in shape, so
 * a first run offline shows pages, the site and search — it is not a Rust expert.
 */
function trainedTestModelPath(cwd = process.cwd()): string | undefined {
  const file = fileURLToPath(new URL("../../test/fixtures/models/rust-kb-tiny.gguf", import.meta.url));
  if (!fs.existsSync(file)) return undefined;
  const rel = path.relative(cwd, file);
  return rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

/** The "try it offline" line of the no-model messages. */
export function tryOfflineLine(n: number): string[] {
  const trained = trainedTestModelPath();
  return trained
    ? [
        `  ${n}. To try the pipeline now, offline: --model ${trained}`,
        "     (the project's own 13M-parameter test model: it answers every step in shape, so you see pages, the site and search;",
        "     it is not a Rust expert and its pages are not knowledge — see docs/MODELS.md).",
      ]
    : [];
}

function offlineError(spec: string, directory: string, host: string): UserError {
  const isDefault = spec === DEFAULT_MODEL.uri;
  const what = isDefault ? `The default model (${DEFAULT_MODEL.name}, about ${DEFAULT_MODEL.approxMb} MB)` : `The model ${spec}`;
  const url = isDefault ? DEFAULT_MODEL.url : modelDownloadUrl(spec);
  return new UserError(
    "MODEL_NOT_FOUND",
    `${what} is not downloaded yet and ${host} cannot be reached from this machine, so there is no model to run. Nothing was processed.`,
    [
      "Do one of:",
      "  1. Connect to the internet and run the same command again: the model is downloaded once, with a progress bar.",
      `  2. On a machine with internet, download ${url}`,
      "     then run with --model /path/to/that-file.gguf (or set RUST_KB_MODEL=/path/to/that-file.gguf).",
      `  3. Put any GGUF instruct model in ${directory} and pass --model with its path.`,
      ...tryOfflineLine(4),
    ].join("\n"),
  );
}

/** True when `url` answers at all (any HTTP status); false on a network error or timeout. */
export async function probeHost(url: string, timeoutMs: number): Promise<boolean> {
  try {
    await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}

/** The host a remote spec downloads from (what is probed before a download). */
export function modelHost(spec: string): string {
  return /^https?:\/\//i.test(spec) ? new URL(spec).origin : "https://huggingface.co";
}

/**
 * A browser/curl URL for a remote spec: `hf:user/repo/dir/file.gguf[#branch]` becomes the hub's
 * `resolve/<branch>/` download URL; `hf:user/repo[:quant]` (resolved by the hub at download time)
 * becomes the repository page; http(s) URLs are returned as they are.
 */
export function modelDownloadUrl(spec: string): string {
  const m = /^(?:hf|huggingface):([^/\s]+)\/([^/\s:#]+)(?:\/([^#\s]+))?(?:#(\S+))?/i.exec(spec);
  if (!m) return spec;
  const [, user, repo, file, branch] = m;
  if (!file) return `https://huggingface.co/${user}/${repo}`;
  return `https://huggingface.co/${user}/${repo}/resolve/${branch ?? "main"}/${file}`;
}

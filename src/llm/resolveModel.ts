import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../errors.ts";
import { loadLlamaCpp } from "./llamaCpp.ts";

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
function urlFileName(url: string): string {
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
  const stall = new AbortController();
  const stallMs = options.stallTimeoutMs ?? 60_000;
  let timer = setTimeout(() => stall.abort(new Error("download stalled")), stallMs);
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
function tryOfflineLine(n: number): string[] {
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
async function probeHost(url: string, timeoutMs: number): Promise<boolean> {
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

// --- Explicit downloads (`npm run models -- pull`) -------------------------------------------------

export interface DownloadStatus {
  downloadedBytes: number;
  totalBytes: number;
}

export interface DownloadModelFileOptions {
  /** Final directory: the file gets its name here only after it is complete and verified. */
  directory: string;
  /** Where the download is staged (and its resume data kept); default `<directory>/.partial`. */
  stagingDirectory?: string;
  /** Called when the size is known, before the first byte, with what an earlier attempt left. */
  onStart?: (info: { fileName: string; totalBytes: number; resumedFromBytes: number }) => void;
  onProgress?: (status: DownloadStatus) => void;
  /** Checks the complete staged file; throw to reject it (it is then deleted, never renamed). */
  verify?: (stagedPath: string, totalBytes: number) => Promise<void>;
  signal?: AbortSignal;
  probeTimeoutMs?: number;
  /** Stop (resumably) when no byte arrives for this long. Default 60 s. */
  stallTimeoutMs?: number;
  /** Never touch the network (RUST_KB_OFFLINE=1). */
  offline?: boolean;
  /** Test hook: checks that the download host answers. */
  probe?: (url: string, timeoutMs: number) => Promise<boolean>;
}

export interface DownloadModelFileResult {
  /** Final path of the model file. */
  path: string;
  fileName: string;
  bytes: number;
  /** True when the file was already in `directory` (nothing downloaded, nothing verified here). */
  alreadyPresent: boolean;
  /** Bytes an earlier, interrupted attempt had already saved. */
  resumedFromBytes: number;
}

/**
 * Downloads a remote model (hf: URI or http(s) URL) through node-llama-cpp's downloader into a
 * staging directory, resumable after an interruption (the partial file and its progress stay in
 * staging), checks the size against the server's, runs `verify`, and only then renames the file
 * to its final name in `directory` (the name node-llama-cpp's resolver looks for, so the pipeline
 * finds it). Offline, or on any failure, nothing is left under the final name.
 */
export async function downloadModelFile(spec: string, options: DownloadModelFileOptions): Promise<DownloadModelFileResult> {
  if (!isRemoteSpec(spec))
    throw new UserError(
      "USAGE",
      `${spec} is not a model name, hf: URI or URL.`,
      "Pass a catalog name (see `npm run models -- list`), an hf: URI or an http(s) URL.",
    );
  const { resolveModelFile, createModelDownloader } = await loadLlamaCpp();
  const directory = path.resolve(options.directory);
  const present = (file: string): DownloadModelFileResult => ({
    path: file,
    fileName: path.basename(file),
    bytes: fs.statSync(file).size,
    alreadyPresent: true,
    resumedFromBytes: 0,
  });
  try {
    return present(await resolveModelFile(spec, { directory, download: false, cli: false }));
  } catch {
    // not downloaded yet, or a plain URL: node-llama-cpp learns a URL's file name from the server.
  }
  assertNoEncodedSeparators(spec);
  const urlFile = /^https?:\/\//i.test(spec) ? path.join(directory, assertPlainFileName(urlFileName(spec), spec)) : undefined;
  if (urlFile?.toLowerCase().endsWith(".gguf") && fs.statSync(urlFile, { throwIfNoEntry: false })?.isFile()) return present(urlFile);
  const host = modelHost(spec);
  const probe = options.probe ?? probeHost;
  if (options.offline || !(await probe(host, options.probeTimeoutMs ?? 8000))) throw unreachableError(spec, host, directory, options.offline === true);
  const staging = path.resolve(options.stagingDirectory ?? path.join(directory, ".partial"));
  fs.mkdirSync(staging, { recursive: true });

  const stall = new AbortController();
  const stallMs = options.stallTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const armStall = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new Error(`no data for ${Math.round(stallMs / 1000)} s`)), stallMs);
  };
  let downloader: Awaited<ReturnType<typeof createModelDownloader>>;
  try {
    downloader = await createModelDownloader({
      modelUri: spec,
      dirPath: staging,
      showCliProgress: false,
      deleteTempFileOnCancel: false,
      skipExisting: true,
      parallelDownloads: 1,
      onProgress: ({ downloadedSize, totalSize }) => {
        armStall();
        options.onProgress?.({ downloadedBytes: downloadedSize, totalBytes: totalSize });
      },
    });
  } catch (e) {
    throw downloadError(spec, e, directory);
  }
  if (downloader.totalFiles !== 1) {
    await downloader.cancel({ deleteTempFile: false });
    throw new UserError(
      "MODEL_DOWNLOAD_FAILED",
      `${spec} is split into ${downloader.totalFiles} files; pull handles single-file models.`,
      "Download the parts yourself and merge them with llama.cpp's gguf-split, or pick a single-file quantization.",
    );
  }
  let fileName: string;
  try {
    // The name may come from the server (a URL's Content-Disposition): it must stay a plain name.
    fileName = assertPlainFileName(downloader.entrypointFilename, spec);
    if (path.dirname(path.resolve(downloader.entrypointFilePath)) !== staging) assertPlainFileName(downloader.entrypointFilePath, spec);
  } catch (e) {
    await downloader.cancel({ deleteTempFile: true }).catch(() => undefined);
    throw e;
  }
  const stagedPath = downloader.entrypointFilePath;
  const finalPath = path.join(directory, fileName);
  if (fs.existsSync(finalPath)) {
    // Never overwrite a file under the final name: report it as present (the caller verifies it).
    await downloader.cancel({ deleteTempFile: false });
    return present(finalPath);
  }
  const totalBytes = downloader.totalSize;
  const resumedFromBytes = downloader.downloadedSize;
  options.onStart?.({ fileName, totalBytes, resumedFromBytes });

  armStall();
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
  try {
    await downloader.download({ signal });
    // A cancelled download can return normally: the signal says whether it finished.
    if (signal.aborted) throw signal.reason;
  } catch (e) {
    // node-llama-cpp starts the cancel without waiting for it: wait, so the resume data is on disk.
    await downloader.cancel({ deleteTempFile: false }).catch(() => undefined);
    if (options.signal?.aborted) throw options.signal.reason ?? e;
    throw downloadError(spec, stall.signal.aborted ? stall.signal.reason : e, directory, partialBytes(stagedPath));
  } finally {
    clearTimeout(timer);
  }

  const size = fs.statSync(stagedPath, { throwIfNoEntry: false })?.size;
  if (size === undefined || (totalBytes > 0 && size !== totalBytes)) {
    fs.rmSync(stagedPath, { force: true });
    throw new UserError(
      "MODEL_VERIFY_FAILED",
      `The download of ${spec} ended with ${size ?? 0} bytes but the server announced ${totalBytes}; the file was deleted.`,
      "Run the same command again to download it afresh.",
    );
  }
  try {
    await options.verify?.(stagedPath, size);
  } catch (e) {
    fs.rmSync(stagedPath, { force: true });
    throw e;
  }
  fs.mkdirSync(directory, { recursive: true });
  fs.renameSync(stagedPath, finalPath);
  return { path: finalPath, fileName, bytes: size, alreadyPresent: false, resumedFromBytes };
}

function partialBytes(stagedPath: string): number {
  return fs.statSync(`${stagedPath}.ipull`, { throwIfNoEntry: false })?.size ?? 0;
}

function unreachableError(spec: string, host: string, directory: string, offline: boolean): UserError {
  return new UserError(
    "MODEL_HOST_UNREACHABLE",
    offline
      ? `RUST_KB_OFFLINE is set, so ${spec} was not downloaded.`
      : `${host} cannot be reached from this machine, so ${spec} cannot be downloaded. Nothing was written.`,
    [
      "Do one of:",
      `  1. ${offline ? "Unset RUST_KB_OFFLINE" : "Connect to the internet"} and run the same command again (an interrupted download resumes).`,
      `  2. On a machine with internet, download ${modelDownloadUrl(spec)}`,
      `     and copy it into ${directory} (then \`npm run models -- list\` shows it), or pass its path with --model.`,
      ...tryOfflineLine(3),
    ].join("\n"),
  );
}

function downloadError(spec: string, e: unknown, directory: string, kept = 0): UserError {
  const message = e instanceof Error ? e.message : String(e);
  const status = (e as { statusCode?: number } | undefined)?.statusCode;
  const notFound = status === 404 || status === 401 || /\b(404|not found|does not exist)\b/i.test(message);
  const keptText = kept > 0 ? ` ${(kept / 1e6).toFixed(1)} MB are kept for resuming.` : "";
  return new UserError(
    "MODEL_DOWNLOAD_FAILED",
    `Downloading ${spec} failed: ${message}.${keptText}`,
    notFound
      ? "The host has no such file: check the name or URI (`npm run models -- list` shows the catalog; hf: URIs look like hf:user/repo/file.gguf). Gated repositories need a token in HF_TOKEN."
      : `Run the same command again to resume. Files go to ${directory}.`,
    { cause: e },
  );
}

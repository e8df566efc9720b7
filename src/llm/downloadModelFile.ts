/**
 * Explicit downloads (`npm run models -- pull`): a remote model staged, resumable, checked and
 * verified before it gets its final name.
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.ts";
import { type LlamaCppApi, loadLlamaCpp } from "./llamaCpp.ts";
import {
  assertNoEncodedSeparators,
  assertPlainFileName,
  isRemoteSpec,
  modelDownloadUrl,
  modelHost,
  probeHost,
  tryOfflineLine,
  urlFileName,
} from "./resolveModel.ts";
import { type StallGuard, stallGuard } from "./stallGuard.ts";

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

type Downloader = Awaited<ReturnType<LlamaCppApi["createModelDownloader"]>>;

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
  const llamaCpp = await loadLlamaCpp();
  const directory = path.resolve(options.directory);
  const found = await presentFile(llamaCpp, spec, directory);
  if (found) return found;
  const host = modelHost(spec);
  const probe = options.probe ?? probeHost;
  if (options.offline || !(await probe(host, options.probeTimeoutMs ?? 8000))) throw unreachableError(spec, host, directory, options.offline === true);
  const staging = path.resolve(options.stagingDirectory ?? path.join(directory, ".partial"));
  fs.mkdirSync(staging, { recursive: true });

  const stallMs = options.stallTimeoutMs ?? 60_000;
  const stall = stallGuard(stallMs, () => new Error(`no data for ${Math.round(stallMs / 1000)} s`));
  const downloader = await openDownloader(llamaCpp, spec, staging, directory, (status) => {
    stall.arm();
    options.onProgress?.(status);
  });
  const fileName = await stagedFileName(downloader, spec, staging);
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

  await download(downloader, stall, options.signal, () => partialBytes(stagedPath), spec, directory);
  const size = await verifiedSize(stagedPath, totalBytes, spec, options.verify);
  fs.mkdirSync(directory, { recursive: true });
  fs.renameSync(stagedPath, finalPath);
  return { path: finalPath, fileName, bytes: size, alreadyPresent: false, resumedFromBytes };
}

function present(file: string): DownloadModelFileResult {
  return { path: file, fileName: path.basename(file), bytes: fs.statSync(file).size, alreadyPresent: true, resumedFromBytes: 0 };
}

/** The model's file when it is already in `directory` (where node-llama-cpp's resolver finds it, or a URL's own name). */
async function presentFile(llamaCpp: LlamaCppApi, spec: string, directory: string): Promise<DownloadModelFileResult | undefined> {
  try {
    return present(await llamaCpp.resolveModelFile(spec, { directory, download: false, cli: false }));
  } catch {
    // not downloaded yet, or a plain URL: node-llama-cpp learns a URL's file name from the server.
  }
  assertNoEncodedSeparators(spec);
  const urlFile = /^https?:\/\//i.test(spec) ? path.join(directory, assertPlainFileName(urlFileName(spec), spec)) : undefined;
  if (urlFile?.toLowerCase().endsWith(".gguf") && fs.statSync(urlFile, { throwIfNoEntry: false })?.isFile()) return present(urlFile);
  return undefined;
}

async function openDownloader(
  llamaCpp: LlamaCppApi,
  spec: string,
  staging: string,
  directory: string,
  onProgress: (status: DownloadStatus) => void,
): Promise<Downloader> {
  try {
    return await llamaCpp.createModelDownloader({
      modelUri: spec,
      dirPath: staging,
      showCliProgress: false,
      deleteTempFileOnCancel: false,
      skipExisting: true,
      parallelDownloads: 1,
      onProgress: ({ downloadedSize, totalSize }) => onProgress({ downloadedBytes: downloadedSize, totalBytes: totalSize }),
    });
  } catch (e) {
    throw downloadError(spec, e, directory);
  }
}

/** The one file's name in staging; a split model, or a name that is not plain, is refused. */
async function stagedFileName(downloader: Downloader, spec: string, staging: string): Promise<string> {
  if (downloader.totalFiles !== 1) {
    await downloader.cancel({ deleteTempFile: false });
    throw new UserError(
      "MODEL_DOWNLOAD_FAILED",
      `${spec} is split into ${downloader.totalFiles} files; pull handles single-file models.`,
      "Download the parts yourself and merge them with llama.cpp's gguf-split, or pick a single-file quantization.",
    );
  }
  try {
    // The name may come from the server (a URL's Content-Disposition): it must stay a plain name.
    const fileName = assertPlainFileName(downloader.entrypointFilename, spec);
    if (path.dirname(path.resolve(downloader.entrypointFilePath)) !== staging) assertPlainFileName(downloader.entrypointFilePath, spec);
    return fileName;
  } catch (e) {
    await downloader.cancel({ deleteTempFile: true }).catch(() => undefined);
    throw e;
  }
}

/** Downloads into staging; on a stall or failure the resume data stays on disk. */
async function download(
  downloader: Downloader,
  stall: StallGuard,
  userSignal: AbortSignal | undefined,
  kept: () => number,
  spec: string,
  directory: string,
): Promise<void> {
  stall.arm();
  const signal = userSignal ? AbortSignal.any([userSignal, stall.signal]) : stall.signal;
  try {
    await downloader.download({ signal });
    // A cancelled download can return normally: the signal says whether it finished.
    if (signal.aborted) throw signal.reason;
  } catch (e) {
    // node-llama-cpp starts the cancel without waiting for it: wait, so the resume data is on disk.
    await downloader.cancel({ deleteTempFile: false }).catch(() => undefined);
    if (userSignal?.aborted) throw userSignal.reason ?? e;
    throw downloadError(spec, stall.signal.aborted ? stall.signal.reason : e, directory, kept());
  } finally {
    stall.clear();
  }
}

/** The staged file's size once it matches the server's and passes `verify`; otherwise the file is deleted. */
async function verifiedSize(stagedPath: string, totalBytes: number, spec: string, verify: DownloadModelFileOptions["verify"]): Promise<number> {
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
    await verify?.(stagedPath, size);
  } catch (e) {
    fs.rmSync(stagedPath, { force: true });
    throw e;
  }
  return size;
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

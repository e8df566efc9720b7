/**
 * `npm run models -- pull NAME|hf:URI|URL`: resolves the target against the catalog, downloads it
 * with src/llm/resolveModel.ts's downloadModelFile (staged, resumable, renamed only when
 * complete) and verifies it: size against the server and the catalog, sha256 where the catalog has
 * one.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import { UserError } from "../../errors.ts";
import { type DownloadStatus, downloadModelFile } from "../../llm/downloadModelFile.ts";
import { formatBytes } from "../../llm/memoryPlan.ts";
import { assertNoEncodedSeparators, isRemoteSpec } from "../../llm/resolveModel.ts";
import { type Catalog, type CatalogEntry, entrySizeBytes, findEntry, findEntryByUri, suggestNames } from "./catalog.ts";

export interface PullTarget {
  /** What node-llama-cpp downloads: an hf: URI or URL. */
  spec: string;
  /** The catalog entry, when the target is a catalog name or a catalog URI. */
  entry: CatalogEntry | undefined;
}

/** Pure: a catalog name, hf: URI or URL -> what to download and what to verify it against. */
export function resolvePullTarget(catalog: Catalog, target: string): PullTarget {
  assertNoEncodedSeparators(target);
  if (isRemoteSpec(target)) return { spec: target, entry: findEntryByUri(catalog, target) };
  const entry = findEntry(catalog, target);
  if (entry) return { spec: entry.uri, entry };
  const near = suggestNames(catalog, target);
  throw new UserError(
    "MODEL_NOT_FOUND",
    `${target} is not in the model catalog.`,
    `${near.length > 0 ? `Did you mean ${near.join(", ")}? ` : ""}\`npm run models -- list\` shows the catalog; any hf:user/repo/file.gguf URI or https URL works too.`,
  );
}

export interface PullOptions {
  catalog: Catalog;
  /** Final directory (node-llama-cpp's models directory, or --dir). */
  directory: string;
  /** Verify the sha256 when the catalog has one (default true). */
  checksum?: boolean;
  signal?: AbortSignal;
  onStart?: (info: { fileName: string; totalBytes: number; resumedFromBytes: number }) => void;
  onProgress?: (status: DownloadStatus) => void;
  /** Called before hashing (which takes a few seconds for a large file). */
  onHashing?: (path: string) => void;
  offline?: boolean;
  probeTimeoutMs?: number;
  stallTimeoutMs?: number;
  /** Test hook: checks that the download host answers. */
  probe?: (url: string, timeoutMs: number) => Promise<boolean>;
}

export interface PullResult {
  spec: string;
  entry: CatalogEntry | undefined;
  path: string;
  bytes: number;
  alreadyPresent: boolean;
  resumedFromBytes: number;
  /** The file's sha256 when it was computed. */
  sha256: string | undefined;
  /** What was checked, one line each (shown to the user). */
  checks: string[];
  /** Things that did not fail the pull but deserve a look. */
  warnings: string[];
}

/** sha256 of a file, streamed. */
async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

interface Verification {
  sha256: string | undefined;
  checks: string[];
  warnings: string[];
}

async function verifyAgainstCatalog(
  file: string,
  bytes: number,
  entry: CatalogEntry | undefined,
  options: PullOptions,
  existing: boolean,
): Promise<Verification> {
  const checks: string[] = [];
  const warnings: string[] = [];
  const fix = existing
    ? `Delete ${file} and pull again, or keep it and skip the check with --no-checksum.`
    : "Nothing was kept under the final name. Pull again; if it fails the same way the publisher may have replaced the file: check the hub and update config/models.catalog.json, or pass --no-checksum.";
  if (entry?.sizeBytes != null) {
    if (bytes !== entry.sizeBytes)
      throw new UserError("MODEL_VERIFY_FAILED", `${file} has ${bytes} bytes but the catalog says ${entry.sizeBytes} for ${entry.name}.`, fix);
    checks.push(`size ${bytes} bytes = catalog`);
  } else if (entry) {
    const approx = entrySizeBytes(entry);
    if (approx !== undefined) {
      const off = Math.abs(bytes - approx) / approx;
      if (off > 0.1)
        warnings.push(
          `size ${(bytes / 1e6).toFixed(0)} MB is ${(off * 100).toFixed(0)}% off the catalog's approximate ${(approx / 1e6).toFixed(0)} MB (the catalog value is approximate; see its provenance)`,
        );
      else
        checks.push(
          `size ${(bytes / 1e6).toFixed(0)} MB within 10% of the catalog's approximate ${(approx / 1e6).toFixed(0)} MB (no exact size in the catalog)`,
        );
    }
  }
  let sha256: string | undefined;
  if (entry?.sha256 && options.checksum !== false) {
    options.onHashing?.(file);
    sha256 = await sha256File(file);
    if (sha256 !== entry.sha256)
      throw new UserError(
        "MODEL_VERIFY_FAILED",
        `The sha256 of ${existing ? file : `the download of ${entry.name}`} is ${sha256}, but the catalog says ${entry.sha256}.`,
        fix,
      );
    checks.push("sha256 = catalog");
  } else if (entry?.sha256) {
    checks.push("sha256 not checked (--no-checksum)");
  } else {
    checks.push(entry ? "no sha256 in the catalog for this file: size checked only" : "not a catalog model: size checked against the server only");
  }
  return { sha256, checks, warnings };
}

/** Downloads (or finds) the model and verifies it. Errors a user can hit are UserErrors. */
export async function pullModel(target: string, options: PullOptions): Promise<PullResult> {
  const { spec, entry } = resolvePullTarget(options.catalog, target);
  let verification: Verification | undefined;
  const result = await downloadModelFile(spec, {
    directory: options.directory,
    signal: options.signal,
    onStart: options.onStart,
    onProgress: options.onProgress,
    offline: options.offline,
    probeTimeoutMs: options.probeTimeoutMs,
    stallTimeoutMs: options.stallTimeoutMs,
    probe: options.probe,
    verify: async (staged, bytes) => {
      verification = await verifyAgainstCatalog(staged, bytes, entry, options, false);
      verification.checks.unshift(`size ${formatBytes(bytes)} = the server's`);
    },
  });
  if (result.alreadyPresent) verification = await verifyAgainstCatalog(result.path, result.bytes, entry, options, true);
  return {
    spec,
    entry,
    path: result.path,
    bytes: result.bytes,
    alreadyPresent: result.alreadyPresent,
    resumedFromBytes: result.resumedFromBytes,
    sha256: verification?.sha256,
    checks: verification?.checks ?? [],
    warnings: verification?.warnings ?? [],
  };
}

/**
 * `npm run models -- list`: the catalog as a table, with which files are already in the models
 * directory (found the way node-llama-cpp's resolver finds them, so "downloaded" here means the
 * pipeline will find it) and which have an interrupted download waiting to resume.
 */
import fs from "node:fs";
import path from "node:path";
import { loadLlamaCpp } from "../../llm/llamaCpp.ts";
import { DEFAULT_MODEL } from "../../llm/resolveModel.ts";
import type { Catalog, CatalogEntry } from "./catalog.ts";
import { renderTable } from "./table.ts";

export type ListStatus = { kind: "downloaded"; path: string; bytes: number } | { kind: "partial"; path: string; bytes: number } | { kind: "missing" };

export interface ListRow {
  entry: CatalogEntry;
  status: ListStatus;
  isDefault: boolean;
}

export interface ListReport {
  directory: string;
  rows: ListRow[];
  /** GGUF files in the directory that no catalog entry accounts for. */
  otherFiles: { name: string; bytes: number }[];
}

/** Staging directory of `pull` inside a models directory (see downloadModelFile). */
export function stagingDirectory(directory: string): string {
  return path.join(directory, ".partial");
}

async function findDownloaded(entry: CatalogEntry, directory: string): Promise<string | undefined> {
  const { resolveModelFile } = await loadLlamaCpp();
  try {
    return await resolveModelFile(entry.uri, { directory, download: false, cli: false });
  } catch {
    return undefined;
  }
}

function listGguf(dir: string, suffix: string): { name: string; bytes: number }[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isFile() && d.name.toLowerCase().endsWith(suffix))
      .map((d) => ({ name: d.name, bytes: fs.statSync(path.join(dir, d.name)).size }));
  } catch {
    return [];
  }
}

export async function listModels(catalog: Catalog, directory: string): Promise<ListReport> {
  const dir = path.resolve(directory);
  const partials = listGguf(stagingDirectory(dir), ".gguf.ipull");
  const accounted = new Set<string>();
  const rows: ListRow[] = [];
  for (const entry of catalog.models) {
    const found = await findDownloaded(entry, dir);
    let status: ListStatus = { kind: "missing" };
    if (found) {
      accounted.add(path.basename(found));
      status = { kind: "downloaded", path: found, bytes: fs.statSync(found).size };
    } else {
      // node-llama-cpp names hf downloads "hf_<user>_<file>": the staged name ends with the hub's file name.
      const partial = partials.find((p) => p.name.slice(0, -".ipull".length).endsWith(entry.fileName));
      if (partial) status = { kind: "partial", path: path.join(stagingDirectory(dir), partial.name), bytes: partial.bytes };
    }
    rows.push({ entry, status, isDefault: entry.uri === DEFAULT_MODEL.uri });
  }
  const otherFiles = listGguf(dir, ".gguf").filter((f) => !accounted.has(f.name));
  return { directory: dir, rows, otherFiles };
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

export function formatList(report: ListReport): string {
  const table = renderTable(
    [
      { header: "name" },
      { header: "quant" },
      { header: "size", align: "right" },
      { header: "budget" },
      { header: "arch" },
      { header: "params", align: "right" },
      { header: "ctx", align: "right" },
      { header: "template" },
      { header: "licence" },
      { header: "roles" },
      { header: "sha256" },
      { header: "status" },
    ],
    report.rows.map(({ entry: e, status, isDefault }) => [
      `${e.name}${isDefault ? " *" : ""}`,
      e.quantization,
      e.sizeBytes !== null ? mb(e.sizeBytes) : e.approxSizeMB !== null ? `~${e.approxSizeMB} MB` : "?",
      e.outsideBudget ? "outside" : "in",
      e.architecture,
      e.parameterCount !== null ? `${(e.parameterCount / 1e9).toFixed(2)}B` : "?",
      e.contextLength !== null ? `${Math.round(e.contextLength / 1024)}k` : "?",
      (e.chatTemplate ?? "?").split(" ")[0] ?? "?",
      e.licence ?? "?",
      e.roles.length === 5 ? "all" : e.roles.join(","),
      e.sha256 ? "yes" : "-",
      status.kind === "downloaded" ? `downloaded (${mb(status.bytes)})` : status.kind === "partial" ? `partial, ${mb(status.bytes)} so far` : "-",
    ]),
  );
  const lines = [
    `Models directory: ${report.directory}`,
    "",
    table,
    "",
    "* the pipeline's default model. budget: in = 300-700 MB. size: ~ = approximate (hub listing or memory; see provenance in config/models.catalog.json).",
  ];
  const downloaded = report.rows.filter((r) => r.status.kind !== "missing");
  for (const r of downloaded)
    lines.push(`${r.status.kind === "downloaded" ? "downloaded" : "partial"}: ${r.entry.name} -> ${(r.status as { path: string }).path}`);
  if (report.otherFiles.length > 0) {
    lines.push("", "Other GGUF files in the directory (not in the catalog; usable with --model PATH or `inspect`):");
    for (const f of report.otherFiles) lines.push(`  ${f.name} (${mb(f.bytes)})`);
  }
  if (downloaded.length === 0) lines.push("Nothing downloaded yet: `npm run models -- pull NAME` fetches one.");
  return lines.join("\n");
}

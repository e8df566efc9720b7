/**
 * `npm run models -- inspect FILE|NAME`: what a GGUF file says about itself (architecture,
 * parameters, quantization mix, context, chat template, tokenizer) and what it would take in
 * memory here, for the weights and for N agents at a given context, through the same
 * src/llm/memoryPlan.ts code the pipeline's admission uses.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { UserError } from "../../errors.ts";
import { type Llama, loadLlamaCpp } from "../../llm/llamaCpp.ts";
import {
  formatBytes,
  kvBytesPerSequence,
  type ModelMemoryProfile,
  maxSequencesThatFit,
  modelMemoryBytes,
  readModelMemoryProfile,
} from "../../llm/memoryPlan.ts";
import { type Catalog, type CatalogEntry, findEntry, suggestNames } from "./catalog.ts";

export interface TensorTypeShare {
  type: string;
  tensors: number;
  parameters: number;
  bytes: number;
}

export interface GgufSummary {
  file: string;
  fileBytes: number;
  ggufVersion: number;
  name: string | undefined;
  architecture: string;
  /** `general.file_type` as llama.cpp names it, e.g. MOSTLY_Q4_K_M. */
  fileType: string | undefined;
  parameters: number;
  tensorTypes: TensorTypeShare[];
  layers: number | undefined;
  embedding: number | undefined;
  heads: number | undefined;
  kvHeads: number | undefined;
  headDim: number | undefined;
  slidingWindow: number | undefined;
  trainContextSize: number | undefined;
  chatTemplate: { present: boolean; family: string | undefined; chars: number };
  tokenizer: { model: string | undefined; pre: string | undefined; vocabSize: number; bos: number | undefined; eos: number | undefined };
}

export interface MachineSummary {
  cpuCores: number;
  ramTotalBytes: number;
  ramFreeBytes: number;
  /** "cuda", "metal", "vulkan" or false (CPU only). */
  gpu: string | false;
  vramTotalBytes: number | undefined;
  vramFreeBytes: number | undefined;
}

export interface InspectReport {
  summary: GgufSummary;
  profile: ModelMemoryProfile;
  machine: MachineSummary;
  contextSize: number;
  agents: number;
  catalogEntry: CatalogEntry | undefined;
}

/** The chat-template family a Jinja template belongs to, from its marker tokens. */
function chatTemplateFamily(template: string | undefined): string | undefined {
  if (!template) return undefined;
  if (template.includes("<|im_start|>")) return "chatml";
  if (template.includes("<|start_header_id|>")) return "llama3";
  if (template.includes("<start_of_turn>")) return "gemma";
  if (template.includes("[INST]")) return "llama2/mistral";
  if (template.includes("<|user|>")) return "zephyr/phi";
  if (template.includes("### Instruction")) return "alpaca/deepseek-coder";
  return "custom";
}

/** 292800 -> "292.8K", 494032768 -> "494.0M", 1235814400 -> "1.24B". */
function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** Resolves FILE|NAME to a GGUF path: an existing file, else a downloaded catalog model. */
export async function resolveInspectTarget(target: string, catalog: Catalog, directory: string): Promise<{ file: string; entry: CatalogEntry | undefined }> {
  const asPath = path.resolve(target);
  if (fs.statSync(asPath, { throwIfNoEntry: false })?.isFile()) return { file: asPath, entry: undefined };
  const entry = findEntry(catalog, target);
  if (!entry) {
    const near = suggestNames(catalog, target);
    throw new UserError(
      "MODEL_NOT_FOUND",
      `${target} is neither a file nor a catalog model.`,
      `Pass the path of a .gguf file or a catalog name${near.length > 0 ? ` (did you mean ${near.join(", ")}?)` : ""}; \`npm run models -- list\` shows the catalog.`,
    );
  }
  const { resolveModelFile } = await loadLlamaCpp();
  try {
    return { file: await resolveModelFile(entry.uri, { directory, download: false, cli: false }), entry };
  } catch {
    throw new UserError(
      "MODEL_NOT_FOUND",
      `${entry.name} is not downloaded in ${directory}.`,
      `Run \`npm run models -- pull ${entry.name}\` first (or pass --dir where it is); \`npm run models -- plan ${entry.name}\` estimates its memory from the catalog without the file.`,
    );
  }
}

/** Reads the GGUF header (no weights) and summarises it. */
async function summarizeGguf(file: string, llama?: Llama): Promise<GgufSummary> {
  const { readGgufFileInfo, GgufInsights, GgufFileType, GgmlType } = await loadLlamaCpp();
  let info: Awaited<ReturnType<typeof readGgufFileInfo>>;
  try {
    info = await readGgufFileInfo(file, { logWarnings: false });
  } catch (e) {
    throw new UserError(
      "MODEL_LOAD_FAILED",
      `${file} is not a readable GGUF file: ${(e as Error).message}`,
      "Check the path; a download that was cut off is kept under .partial/ until complete, never under the final name.",
      { cause: e },
    );
  }
  const insights = await GgufInsights.from(info, llama);
  const arch = info.architectureMetadata;
  const tensors = [...(info.fullTensorInfo ?? [])].sort((a, b) => Number(a.offset) - Number(b.offset));
  const fileBytes = fs.statSync(file).size;
  const dataStart = info.infoEndOffset ?? 0;
  const shares = new Map<string, TensorTypeShare>();
  tensors.forEach((t, i) => {
    const next = tensors[i + 1];
    const bytes = next ? Number(next.offset) - Number(t.offset) : fileBytes - dataStart - Number(t.offset);
    const type = GgmlType[t.ggmlType] ?? String(t.ggmlType);
    const params = t.dimensions.reduce<number>((a, d) => a * Number(d), 1);
    const s = shares.get(type) ?? { type, tensors: 0, parameters: 0, bytes: 0 };
    s.tensors++;
    s.parameters += params;
    s.bytes += Math.max(0, bytes);
    shares.set(type, s);
  });
  const heads = arch.attention?.head_count;
  const headCountKv = arch.attention?.head_count_kv;
  const kvHeads = typeof headCountKv === "number" ? headCountKv : Array.isArray(headCountKv) ? Math.max(...(headCountKv as number[])) : heads;
  const headsNumber = typeof heads === "number" ? heads : undefined;
  const headDim = arch.attention?.key_length ?? (headsNumber && arch.embedding_length ? arch.embedding_length / headsNumber : undefined);
  const tok = info.metadata.tokenizer;
  const template = tok?.chat_template;
  const fileTypeValue = info.metadata.general?.file_type;
  return {
    file,
    fileBytes,
    ggufVersion: info.version,
    name: info.metadata.general?.name,
    architecture: String(info.metadata.general?.architecture ?? "unknown"),
    fileType: fileTypeValue !== undefined ? (GgufFileType[fileTypeValue] ?? String(fileTypeValue)) : undefined,
    parameters: insights.totalParameters,
    tensorTypes: [...shares.values()].sort((a, b) => b.bytes - a.bytes),
    layers: arch.block_count,
    embedding: arch.embedding_length,
    heads: headsNumber,
    kvHeads: typeof kvHeads === "number" ? kvHeads : undefined,
    headDim,
    slidingWindow: insights.swaSize,
    trainContextSize: insights.trainContextSize,
    chatTemplate: { present: typeof template === "string" && template.length > 0, family: chatTemplateFamily(template), chars: template?.length ?? 0 },
    tokenizer: {
      model: tok?.ggml?.model,
      pre: tok?.ggml?.pre,
      vocabSize: arch.vocab_size ?? tok?.ggml?.tokens?.length ?? 0,
      bos: tok?.ggml?.bos_token_id,
      eos: tok?.ggml?.eos_token_id,
    },
  };
}

async function describeMachine(llama: Llama | undefined): Promise<MachineSummary> {
  let vram: { total: number; free: number } | undefined;
  if (llama && llama.gpu !== false) vram = await llama.getVramState();
  return {
    cpuCores: typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length,
    ramTotalBytes: os.totalmem(),
    ramFreeBytes: os.freemem(),
    gpu: llama ? llama.gpu : false,
    vramTotalBytes: vram?.total,
    vramFreeBytes: vram?.free,
  };
}

export interface InspectOptions {
  contextSize: number;
  agents: number;
  /** A started llama.cpp (GPU detection and the insights' simulation); CPU-only reader when absent. */
  llama?: Llama;
  entry?: CatalogEntry;
}

export async function inspectModel(file: string, options: InspectOptions): Promise<InspectReport> {
  const summary = await summarizeGguf(file, options.llama);
  const profile = await readModelMemoryProfile(file, {
    contextSize: options.contextSize,
    sequences: Math.max(2, options.agents),
    llama: options.llama,
    label: options.entry?.name ?? path.basename(file),
  });
  const machine = await describeMachine(options.llama);
  return { summary, profile, machine, contextSize: options.contextSize, agents: options.agents, catalogEntry: options.entry };
}

export function formatInspect(r: InspectReport): string {
  const s = r.summary;
  const L: string[] = [];
  const row = (k: string, v: string) => L.push(`${k.padEnd(14)}${v}`);
  row("File", `${s.file} (${formatBytes(s.fileBytes)}, GGUF v${s.ggufVersion})`);
  if (r.catalogEntry) row("Catalog", `${r.catalogEntry.name} (${r.catalogEntry.displayName})`);
  if (s.name) row("Name", s.name);
  row("Architecture", s.architecture);
  row("Parameters", formatCount(s.parameters));
  const totalBytes = s.tensorTypes.reduce((a, t) => a + t.bytes, 0) || 1;
  row(
    "Quantization",
    `${s.fileType ?? "file type not recorded"}; tensors by type: ${s.tensorTypes
      .map((t) => `${t.type} ${((t.bytes / totalBytes) * 100).toFixed(1)}% (${t.tensors} tensors, ${formatBytes(t.bytes)})`)
      .join(", ")}`,
  );
  row(
    "Shape",
    [
      s.layers !== undefined ? `${s.layers} layers` : undefined,
      s.embedding !== undefined ? `embedding ${s.embedding}` : undefined,
      s.heads !== undefined ? `${s.heads} heads` : undefined,
      s.kvHeads !== undefined ? `${s.kvHeads} KV heads` : undefined,
      s.headDim !== undefined ? `head dim ${s.headDim}` : undefined,
      s.slidingWindow !== undefined ? `sliding window ${s.slidingWindow}` : undefined,
    ]
      .filter(Boolean)
      .join(", "),
  );
  row("Context", s.trainContextSize !== undefined ? `${s.trainContextSize} tokens (trained)` : "not recorded");
  row(
    "Chat template",
    s.chatTemplate.present
      ? `present (${s.chatTemplate.family} family, ${s.chatTemplate.chars} chars)`
      : "none (node-llama-cpp will guess a chat wrapper; prefer a model with a template)",
  );
  row(
    "Tokenizer",
    `${s.tokenizer.model ?? "?"}${s.tokenizer.pre ? ` (pre: ${s.tokenizer.pre})` : ""}, vocab ${s.tokenizer.vocabSize}, BOS ${s.tokenizer.bos ?? "-"}, EOS ${s.tokenizer.eos ?? "-"}`,
  );
  L.push("");
  const m = r.machine;
  const gpu = m.gpu === false ? "none (CPU only)" : `${m.gpu}, VRAM ${formatBytes(m.vramTotalBytes ?? 0)} total / ${formatBytes(m.vramFreeBytes ?? 0)} free`;
  L.push(`Memory on this machine: ${m.cpuCores} CPU cores, RAM ${formatBytes(m.ramTotalBytes)} total / ${formatBytes(m.ramFreeBytes)} free; GPU: ${gpu}`);
  L.push("(node-llama-cpp GGUF insights; the weights are memory-mapped from the file)");
  const p = r.profile;
  const kv = kvBytesPerSequence(p, r.contextSize);
  const ctx = Math.min(r.contextSize, p.trainContextSize ?? r.contextSize);
  row("  weights", formatBytes(p.weightsBytes));
  row(
    "  KV cache",
    `${formatBytes(p.kvBytesPerToken)} per token per agent${p.kvBytesPerSequenceFixed > 0 ? ` + ${formatBytes(p.kvBytesPerSequenceFixed)} per agent (output buffers${s.slidingWindow !== undefined ? ", sliding-window layers" : ""})` : ""}`,
  );
  row("  per agent", `${formatBytes(kv)} at ${ctx} tokens`);
  row("  buffers", `${formatBytes(p.overheadBytes)} per context (compute and output buffers)`);
  for (const n of [...new Set([1, r.agents])]) {
    L.push(
      `  ${n} agent${n === 1 ? "" : "s"} x ${ctx} tokens: weights ${formatBytes(p.weightsBytes)} + buffers ${formatBytes(p.overheadBytes)} + KV ${formatBytes(kv)} x ${n} = ${formatBytes(modelMemoryBytes(p, r.contextSize, n))}`,
    );
  }
  const free = m.gpu === false ? m.ramFreeBytes : (m.vramFreeBytes ?? m.ramFreeBytes);
  L.push(
    `  agents at ${ctx} tokens that fit the ${m.gpu === false ? "free RAM" : "free VRAM"} now (${formatBytes(free)}): ${maxSequencesThatFit(p, r.contextSize, free)}`,
  );
  for (const n of p.notes ?? []) L.push(`  note: ${n}`);
  return L.join("\n");
}

/**
 * Writes a random-weight GGUF in the exact shape and vocabulary of a llama-architecture model (by
 * default the trained test model, test/fixtures/models/rust-kb-tiny.gguf): the random-weight side of
 * the job benchmark's comparison where PyTorch (scripts/training/train.py --steps 0) is not at hand,
 * e.g. on the GPU machine (bench/gpu/jobGpu.sh runs it from the bundle). The shape is read from the
 * model's header, the tokenizer and chat template copied from it, the weights drawn by the project's
 * synthetic writer (src/gguf/writeSyntheticGguf.ts, seeded: the same options give the same bytes).
 * Checks that the written tensors have the model's names and dimensions.
 *
 *   npx tsx bench/gpu/untrainedModel.ts --out .bench/models/rust-kb-tiny-random.gguf [--from PATH.gguf] [--seed 1]
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { readGgufHeader } from "../../src/gguf/readGgufHeader.ts";
import { type SyntheticShape, writeSyntheticGguf } from "../../src/gguf/writeSyntheticGguf.ts";

const { values } = parseArgs({
  options: {
    from: { type: "string", default: "test/fixtures/models/rust-kb-tiny.gguf" },
    out: { type: "string" },
    seed: { type: "string", default: "1" },
  },
});
if (!values.out) throw new Error("--out PATH.gguf is required");

const header = readGgufHeader(values.from);
const arch = header.metadata.get("general.architecture");
if (arch !== "llama") throw new Error(`${values.from}: architecture ${String(arch)}, only llama is supported`);
const num = (key: string): number => {
  const v = header.metadata.get(`llama.${key}`);
  if (typeof v !== "number") throw new Error(`${values.from} has no numeric llama.${key}`);
  return v;
};
const names = new Set(header.tensors.map((t) => t.name));
const shape: SyntheticShape = {
  name: `${path.basename(values.from, ".gguf")}-random`,
  mirrors: path.basename(values.from),
  arch: "llama",
  layers: num("block_count"),
  hidden: num("embedding_length"),
  heads: num("attention.head_count"),
  kvHeads: num("attention.head_count_kv"),
  ffn: num("feed_forward_length"),
  vocab: num("vocab_size"),
  contextLength: num("context_length"),
  ropeFreqBase: num("rope.freq_base"),
  rmsEps: num("attention.layer_norm_rms_epsilon"),
  qkvBias: names.has("blk.0.attn_q.bias"),
  tiedEmbeddings: !names.has("output.weight"),
};
const info = await writeSyntheticGguf({ shape, quant: "Q8_0", outPath: values.out, seed: Number(values.seed), tokenizerFrom: values.from });

const key = (t: { name: string; dims: number[] }) => `${t.name} [${t.dims.join(",")}]`;
const want = new Set(header.tensors.map(key));
const got = new Set(readGgufHeader(info.path).tensors.map(key));
const differ = [...want].filter((k) => !got.has(k)).concat([...got].filter((k) => !want.has(k)));
if (differ.length > 0) {
  process.stderr.write(`the written tensors differ from ${values.from}'s: ${differ.slice(0, 8).join("; ")}\n`);
  process.exitCode = 1;
} else
  process.stdout.write(
    `${info.path}: ${info.tensorCount} tensors, ${info.parameters} parameters, ${info.bytes} bytes, random weights (seed ${values.seed}) in the shape and vocabulary of ${values.from}\n`,
  );

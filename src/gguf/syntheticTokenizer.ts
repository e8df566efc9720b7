/**
 * Tokenizer metadata for synthetic-shape GGUFs. Throughput depends on the vocabulary's size (the
 * output matmul, the logits, sampling), not on which strings it holds, so the default is a
 * self-contained SentencePiece-style ("llama" tokenizer model) vocabulary of exactly the shape's
 * size: special tokens, ChatML control tokens, the 256 byte-fallback tokens, then generated word
 * pieces. `tokenizerFromGguf` instead copies another GGUF's tokenizer and pads it to the size.
 */

import type { GgufValue } from "./ggufFormat.ts";
import { bool, str, u32 } from "./ggufFormat.ts";
import { readGgufHeader } from "./readGgufHeader.ts";

/** llama.cpp `enum llama_token_type` (the GGUF `tokenizer.ggml.token_type` values). */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** ChatML, as SmolLM2 and Qwen2.5 use; its control tokens are in the synthetic vocabulary. */
const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Ordered `tokenizer.*` metadata entries. */
export type TokenizerMetadata = Array<[string, GgufValue]>;

/**
 * Byte-fallback tokens <0x80>..<0xFF>: alone they are never valid UTF-8, and a random-weight model
 * emits them mid-text, which real models practically never do (llama-server then fails to parse
 * its own output as text). The writer gives these tokens all-zero embedding rows, so with tied
 * embeddings their logit is exactly 0 while tens of thousands of tokens score above it: greedy and
 * top-k sampling never pick them, and tokenizing non-ASCII input still works.
 */
export function neverEmittedTokens(meta: TokenizerMetadata): number[] {
  const tokens = meta.find(([k]) => k === "tokenizer.ggml.tokens")?.[1];
  const types = meta.find(([k]) => k === "tokenizer.ggml.token_type")?.[1];
  if (tokens?.type !== "string[]" || types?.type !== "i32[]") return [];
  const out: number[] = [];
  for (let i = 0; i < tokens.value.length; i++) {
    if (types.value[i] !== TokenType.BYTE) continue;
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(tokens.value[i] ?? "");
    if (m && Number.parseInt(m[1] ?? "0", 16) >= 0x80) out.push(i);
  }
  return out;
}

const SPACE = "\u2581";

/** Word pieces in a fixed order: characters, then lowercase n-grams, each also with a leading "▁". */
function* pieces(): Generator<string> {
  yield SPACE;
  const printable: string[] = [];
  for (let c = 0x21; c <= 0x7e; c++) printable.push(String.fromCharCode(c));
  for (const ch of printable) yield ch;
  for (const ch of printable) yield SPACE + ch;
  const letters = "etaoinshrdlcumwfgypbvkjxqz".split("");
  let grams = letters;
  for (let n = 2; ; n++) {
    const next: string[] = [];
    for (const a of grams) for (const b of letters) next.push(a + b);
    for (const g of next) {
      yield g;
      yield SPACE + g;
    }
    grams = next;
    if (n > 6) throw new Error("vocabulary too large for the synthetic tokenizer");
  }
}

/** A self-contained SentencePiece-style vocabulary of exactly `size` tokens. */
export function syntheticTokenizer(size: number): TokenizerMetadata {
  const specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"];
  const minimum = specials.length + 256 + 1;
  if (!Number.isInteger(size) || size < minimum) throw new Error(`synthetic vocabulary needs at least ${minimum} tokens, got ${size}`);
  const tokens: string[] = [];
  const types: number[] = [];
  tokens.push(...specials);
  types.push(TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL);
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TokenType.BYTE);
  }
  const it = pieces();
  while (tokens.length < size) {
    const next = it.next();
    if (next.done) break;
    tokens.push(next.value);
    types.push(TokenType.NORMAL);
  }
  // Longer pieces merge last in SentencePiece's greedy bigram merge: give earlier (shorter) pieces higher scores.
  const scores = new Float32Array(size);
  for (let i = 0; i < size; i++) scores[i] = types[i] === TokenType.NORMAL ? -i : 0;
  return [
    ["tokenizer.ggml.model", str("llama")],
    ["tokenizer.ggml.tokens", { type: "string[]", value: tokens }],
    ["tokenizer.ggml.scores", { type: "f32[]", value: scores }],
    ["tokenizer.ggml.token_type", { type: "i32[]", value: types }],
    ["tokenizer.ggml.unknown_token_id", u32(0)],
    ["tokenizer.ggml.bos_token_id", u32(1)],
    ["tokenizer.ggml.eos_token_id", u32(4)],
    ["tokenizer.ggml.padding_token_id", u32(2)],
    ["tokenizer.ggml.add_bos_token", bool(true)],
    ["tokenizer.ggml.add_eos_token", bool(false)],
    ["tokenizer.chat_template", str(CHATML_TEMPLATE)],
  ];
}

/**
 * Copies the `tokenizer.*` metadata of another GGUF (for example a tiny test model's real
 * Llama-2 vocabulary) and pads its token list to `size` with unused `<pad_N>` tokens.
 */
export function tokenizerFromGguf(filePath: string, size: number): TokenizerMetadata {
  const header = readGgufHeader(filePath);
  const out: TokenizerMetadata = [];
  const tokens = header.metadata.get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens)) throw new Error(`${filePath} has no tokenizer.ggml.tokens`);
  if (tokens.length > size) throw new Error(`${filePath} has ${tokens.length} tokens, more than the shape's vocabulary of ${size}`);
  const pad = size - tokens.length;
  for (const [key, value] of header.metadata) {
    if (!key.startsWith("tokenizer.")) continue;
    const types = header.metadataTypes.get(key);
    if (Array.isArray(value)) {
      if (key === "tokenizer.ggml.tokens") {
        const padded = value.map(String);
        for (let i = 0; i < pad; i++) padded.push(`<pad_${i}>`);
        out.push([key, { type: "string[]", value: padded }]);
      } else if (key === "tokenizer.ggml.scores") {
        out.push([key, { type: "f32[]", value: [...value.map(Number), ...new Array<number>(pad).fill(-1e9)] }]);
      } else if (key === "tokenizer.ggml.token_type") {
        out.push([key, { type: "i32[]", value: [...value.map(Number), ...new Array<number>(pad).fill(TokenType.UNUSED)] }]);
      } else if (types?.arrayOf === 8) {
        out.push([key, { type: "string[]", value: value.map(String) }]);
      } else {
        throw new Error(`cannot copy tokenizer key ${key} (array of type ${types?.arrayOf})`);
      }
    } else if (typeof value === "string") {
      out.push([key, str(value)]);
    } else if (typeof value === "boolean") {
      out.push([key, bool(value)]);
    } else if (typeof value === "number" && types?.type === 4) {
      out.push([key, u32(value)]);
    } else if (typeof value === "number" && types?.type === 5) {
      out.push([key, { type: "i32", value }]);
    } else if (typeof value === "number" && types?.type === 6) {
      out.push([key, { type: "f32", value }]);
    } else {
      throw new Error(`cannot copy tokenizer key ${key} (type ${types?.type})`);
    }
  }
  return out;
}

/**
 * The one door to node-llama-cpp: every other module (the model layer, the models command, the
 * CLI) takes its types and functions from here, so the native library has one owner and the list
 * below is everything the project uses of it (`npm run lint:deps` enforces this; bench/ and test/
 * may import node-llama-cpp directly).
 *
 * Nothing is loaded at import time: the types cost nothing, and `loadLlamaCpp` imports the package
 * (and with it the native binding's loader) on first call only, so commands that never touch a
 * model stay fast.
 */

export type {
  ChatHistoryItem,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
} from "node-llama-cpp";

type NodeLlamaCpp = typeof import("node-llama-cpp");

/** The functions, classes and enums of node-llama-cpp that the project uses. */
export type LlamaCppApi = Pick<
  NodeLlamaCpp,
  | "getLlama"
  | "LlamaLogLevel"
  | "LlamaChat"
  | "resolveChatWrapper"
  | "resolveModelFile"
  | "createModelDownloader"
  | "readGgufFileInfo"
  | "GgufInsights"
  | "GgufFileType"
  | "GgmlType"
>;

/** node-llama-cpp, imported on first call (later calls get the same module). */
export async function loadLlamaCpp(): Promise<LlamaCppApi> {
  return import("node-llama-cpp");
}

// Preloaded with `node --require ./cli/threadpool.cjs` by every npm script that runs models, before
// tsx or any other module: libuv creates its thread pool on first use and reads UV_THREADPOOL_SIZE
// only then, and tsx's ESM loader already uses the pool, so this cannot be done from TypeScript.
//
// Why: node-llama-cpp runs each llama_decode and each sequence's sampling as a separate job on
// libuv's pool (4 threads by default). When the model decodes on the CPU, ggml already runs one
// compute thread per core; the extra pool threads (sampling jobs, the next batch's hand-offs) make a
// third runnable thread on a 2-core machine, ggml's barrier threads spin while one is preempted, and
// throughput falls to half (docs/PROFILE.md: 16 sequences 48 -> 90 tok/s, 1 sequence 36 -> 44 on the
// Qwen2.5-0.5B shape). One pool thread serialises decode and sampling, which is what llama.cpp's own
// loop does.
//
// Policy: a UV_THREADPOOL_SIZE the user set is kept. Otherwise it is set to 1, unless the models
// will decode on a GPU (Apple Silicon's Metal, or a machine with an NVIDIA driver), where the CPU
// cores are free during a decode and more pool threads sample sequences in parallel. Either way the
// choice is recorded in RUST_KB_THREADPOOL ("<size> <reason>") for the run's log.
"use strict";

const fs = require("node:fs");

function gpuLikely() {
  if (process.env.RUST_KB_GPU === "false") return false;
  if (process.platform === "darwin" && process.arch === "arm64") return true;
  try {
    return fs.existsSync("/dev/nvidiactl");
  } catch {
    return false;
  }
}

const inherited = process.env.RUST_KB_THREADPOOL;
if (process.env.UV_THREADPOOL_SIZE !== undefined && process.env.UV_THREADPOOL_SIZE !== "") {
  // A child of one of our processes inherits both variables: keep the parent's reason.
  if (!inherited?.startsWith(`${process.env.UV_THREADPOOL_SIZE} (`))
    process.env.RUST_KB_THREADPOOL = `${process.env.UV_THREADPOOL_SIZE} (UV_THREADPOOL_SIZE set by the user)`;
} else if (gpuLikely()) {
  process.env.RUST_KB_THREADPOOL = "4 (libuv default: a GPU is likely to do the decoding)";
} else {
  process.env.UV_THREADPOOL_SIZE = "1";
  process.env.RUST_KB_THREADPOOL = "1 (CPU decoding: one pool thread, see docs/PROFILE.md)";
}

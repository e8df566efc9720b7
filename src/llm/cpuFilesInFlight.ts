/**
 * Files in flight on a CPU engine: one per thread (at least 2), not one per sequence.
 *
 * On a GPU a decode step costs about the same for 1 or 30 sequences (it is bound by reading the
 * weights), so many files in flight fill the batch for free. On a CPU it is not: matrix work grows
 * with the batch, and each generated token's attention runs over its own sequence's prompt (the
 * pipeline's prompts are thousands of tokens), which batching does not share. Measured on the
 * 2-core VM with the trained test model at a 2,249-token depth (llama-batched-bench): 74 tok/s
 * generated with 1 sequence, 72 with 4 — no gain — while every file in flight beyond what keeps the
 * threads busy only delays every other file: 30 files in flight finished the first file after
 * 192 s and the 30-file job in 615 s, 4 in flight after 54 s and 372 s (docs/BENCHMARKS.md, issue 26).
 * With files started smallest first, 2 in flight on two threads beat 4 on every count (idle VM, the
 * 30-file slice): first file 3.7 s vs 8.4 s (alone: 1.7 s), 22 vs 21 files done at half the wall,
 * wall 237.7 s vs 259.8 s.
 */
const CPU_FILES_PER_THREAD = 1;

/** At least 2 files, so one file's research or code check never leaves the engine idle. */
export function cpuFilesInFlight(threads: number): number {
  return Math.max(2, Math.round(threads * CPU_FILES_PER_THREAD));
}

/**
 * Model calls at once on a CPU engine: half the files in flight (at least 1), the rest of each file's
 * time (research, code checks, building the next prompt) filled by another file's call, and the
 * waiting call of the file furthest along goes first. Measured on the 2-core VM (llama-batched-bench
 * after 2,000 tokens, 2 threads): one sequence generates as much as 2-4 at once with the trained
 * test model (177 tok/s vs 132-142) and the Qwen2.5-0.5B shape (34.5 vs 31.0-39.1), so two calls at
 * once only made each take twice as long (docs/BENCHMARKS.md, issue 26). Above 2 threads this
 * split is not measured.
 */
export function cpuCallsAtOnce(threads: number): number {
  return Math.max(1, Math.floor(cpuFilesInFlight(threads) / 2));
}

/**
 * How long a file keeps the CPU engine after its call ends, for its next call (FairScheduler
 * limitActive): the job's files issue their next call 10-90 ms after the last one returns (seen in
 * the job bench's timeline); a code check or research that takes longer lets the next file in.
 */
export const CPU_HOLD_MS = 100;

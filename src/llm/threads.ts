import os from "node:os";

/**
 * The machine's usable core count. node-llama-cpp's own default (4 here on 2 cores) oversubscribes
 * small machines and was measured 200x slower than the right value, so every context gets an
 * explicit count derived from this.
 */
export function machineThreads(): number {
  return Math.max(1, typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length);
}

/**
 * Divides `total` threads among models in proportion to their weights (for example the number of
 * agents each serves), giving every model at least one thread. With more models than threads each
 * gets one and the cores are shared (documented: that is oversubscription the user asked for).
 */
export function divideThreads(total: number, weights: readonly number[]): number[] {
  if (weights.length === 0) return [];
  if (!Number.isInteger(total) || total < 1) throw new Error(`thread total must be a positive integer, got ${total}`);
  if (total <= weights.length) return weights.map(() => 1);
  const sum = weights.reduce((a, b) => a + Math.max(0, b), 0);
  const shares = weights.map((w) => (sum > 0 ? (Math.max(0, w) / sum) * total : total / weights.length));
  const result = shares.map((s) => Math.max(1, Math.floor(s)));
  // Hand out what rounding left over to the largest remainders, deterministically.
  let left = total - result.reduce((a, b) => a + b, 0);
  const order = shares.map((s, i) => ({ i, r: s - Math.floor(s) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) {
    const entry = order[k];
    if (entry) result[entry.i] = (result[entry.i] ?? 0) + 1;
  }
  while (result.reduce((a, b) => a + b, 0) > total) {
    const i = result.indexOf(Math.max(...result));
    result[i] = (result[i] ?? 1) - 1;
  }
  return result;
}

/**
 * Threads per model context. node-llama-cpp runs every decode as a job on libuv's thread pool, so
 * no more decodes run at once than the pool has threads. With one pool thread (cli/threadpool.cjs
 * sets that for CPU decoding) the models' decodes take turns, and each should use every thread;
 * with a larger pool they overlap, and the threads are divided so they do not oversubscribe the cores.
 */
export function threadsPerModel(total: number, weights: readonly number[], uvThreadpoolSize: number): number[] {
  if (uvThreadpoolSize <= 1) return weights.map(() => total);
  return divideThreads(total, weights);
}

/**
 * A warning when the process's libuv pool does not suit where the models decode, or undefined.
 * The pool size is fixed when Node starts (cli/threadpool.cjs chooses it for the npm scripts), so
 * the advice is how to start the next run.
 */
export function threadpoolAdvice(env: { uvThreadpoolSize: number; threadpoolChoice: string | undefined }, gpu: boolean): string | undefined {
  const userSet = env.threadpoolChoice?.includes("set by the user") ?? false;
  if (!gpu && env.uvThreadpoolSize > 1 && !userSet)
    return `decoding on the CPU with ${env.uvThreadpoolSize} libuv pool threads, which halves generation speed on small machines (docs/PROFILE.md); start through the npm scripts (they preload cli/threadpool.cjs) or set UV_THREADPOOL_SIZE=1.`;
  if (gpu && env.uvThreadpoolSize === 1 && !userSet)
    return "decoding on a GPU with one libuv pool thread, so sequences are sampled one at a time; set UV_THREADPOOL_SIZE=4 (or RUST_KB_GPU=false to decode on the CPU).";
  return undefined;
}

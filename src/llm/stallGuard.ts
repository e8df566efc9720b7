/** An abort signal that fires when a download goes `ms` without progress: each `arm()` restarts the wait. */
export interface StallGuard {
  readonly signal: AbortSignal;
  /** (Re)starts the wait; call on every sign of progress. */
  arm(): void;
  /** Stops waiting (the download ended). */
  clear(): void;
}

export function stallGuard(ms: number, reason: () => Error): StallGuard {
  const stall = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  return {
    signal: stall.signal,
    arm: () => {
      clearTimeout(timer);
      timer = setTimeout(() => stall.abort(reason()), ms);
    },
    clear: () => clearTimeout(timer),
  };
}

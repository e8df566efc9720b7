/**
 * Counts work in flight so a caller can wait for it to settle. LangGraph does not cancel sibling
 * tasks when one task fails, so after a failed or interrupted run the CLI aborts them and waits
 * here before closing the databases.
 */
export class TaskTracker {
  private active = 0;
  private waiters: (() => void)[] = [];

  get inFlight(): number {
    return this.active;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      if (this.active === 0) for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves when nothing is in flight, or after `timeoutMs` (returns whether it settled). */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.active === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }
}

import { isAbortError } from "../errors.ts";
import { isResearchError, ResearchError } from "./ResearchError.ts";
import type { ResearchHitSource, ResearchProvider, ResearchQuery } from "./types.ts";

export interface ResilientOptions {
  /** Told once per provider and kind of failure (the run goes on with the other providers). */
  onWarn: (text: string) => void;
  /** Names of the other providers in use, for the message. */
  others?: readonly string[];
}

/**
 * Makes a provider's failure cost the run nothing but that provider's results: a bad key, a used-up
 * quota or no network switches the provider off for the rest of the run with one clear message;
 * any other failure skips that query (one message per kind). An abort still propagates.
 */
export class ResilientProvider implements ResearchProvider {
  readonly name: string;
  private disabled: ResearchError | undefined;
  private readonly warned = new Set<string>();

  constructor(
    private readonly inner: ResearchProvider,
    private readonly options: ResilientOptions,
  ) {
    this.name = inner.name;
  }

  /** Why the provider was switched off, if it was. */
  get disabledBy(): ResearchError | undefined {
    return this.disabled;
  }

  cacheKey(query: ResearchQuery): string | undefined {
    return this.inner.cacheKey?.(query);
  }

  async search(query: ResearchQuery): Promise<ResearchHitSource[]> {
    if (this.disabled) return [];
    try {
      return await this.inner.search(query);
    } catch (e) {
      if (isAbortError(e) || query.signal?.aborted) throw e;
      const err = isResearchError(e) ? e : new ResearchError(this.name, "UNKNOWN", (e as Error)?.message ?? String(e), { cause: e });
      if (err.disablesProvider) {
        this.disabled = err;
        this.warnOnce("disabled", `${this.describe(err)} ${this.name} research is off for the rest of this run${this.fallback()}.`);
      } else {
        this.warnOnce(err.code, `${this.describe(err)} Skipping ${this.name} results for this query${this.fallback()}.`);
      }
      return [];
    }
  }

  private describe(err: ResearchError): string {
    return `${err.message}${err.hint ? ` ${err.hint}` : ""}`;
  }

  private fallback(): string {
    const others = (this.options.others ?? []).filter((n) => n !== this.name);
    return others.length > 0 ? `; continuing with ${others.join(", ")}` : "";
  }

  private warnOnce(key: string, text: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.options.onWarn(text);
  }
}

import { UserError } from "../errors.ts";
import type { FlagValues } from "./parseFlags.ts";

/** One flag's value as parseArgs gives it (never undefined: absent flags are not read). */
type Raw = NonNullable<FlagValues[string]>;

/** Throws the usage error that usageResult turns into `{ kind: "error", message }`. */
function usage(message: string): never {
  throw new UserError("USAGE", message);
}

/**
 * Readers of a flag's value, shared by every command: each takes what parseArgs gave and the flag's
 * name, and returns the option's value or throws the usage error (always worded `--name ...`).
 */
export const flagValue = {
  /** A boolean flag: given is true. */
  given: (): true => true,
  /** Any text, the empty one included. */
  text: (raw: Raw): string => raw as string,
  /** Text that may not be empty. */
  nonEmpty: (raw: Raw, name: string): string => (raw === "" ? usage(`--${name} needs a value`) : (raw as string)),
  /** A whole number from 1. */
  positiveInt: (raw: Raw, name: string): number => {
    const n = Number(raw);
    return Number.isInteger(n) && n >= 1 ? n : usage(`--${name} must be a positive integer, got "${raw}"`);
  },
  /** Comma-separated items, trimmed, empty ones dropped. */
  list: (raw: Raw): string[] =>
    (raw as string)
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x !== ""),
  /** Every occurrence of a repeatable flag, in order. */
  each: (raw: Raw): string[] => raw as string[],
  /** Throws a usage error: for the readers of one flag's own rules (src/commands/runFlags.ts). */
  usage,
};

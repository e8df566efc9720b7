import { parseArgs } from "node:util";
import { UserError } from "../errors.ts";

/** What node:util's parseArgs gives a flag: its text, every text of a repeatable one, or true for a boolean. */
export type FlagValues = Record<string, string | string[] | boolean | undefined>;

/** parseArgs' declaration of the flags: a value or not, repeatable or not. */
export type FlagConfig = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/**
 * The commands' one use of parseArgs: strict, with `-h, --help` added. An unknown flag, a missing value or a
 * stray argument (without `positionals`) throws a USAGE UserError with parseArgs' own message (usageResult returns it).
 */
export function parseFlags(argv: readonly string[], options: FlagConfig, positionals = false): { values: FlagValues; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: [...argv], allowPositionals: positionals, strict: true, options: { ...options, help: { type: "boolean", short: "h" } } });
    return { values: parsed.values as FlagValues, positionals: parsed.positionals };
  } catch (e) {
    throw new UserError("USAGE", (e as Error).message);
  }
}

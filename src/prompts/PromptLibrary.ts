import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../errors.ts";

/** The repository's prompts/ folder. */
const DEFAULT_PROMPTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../prompts");

const PLACEHOLDER = /\{\{\s*([a-zA-Z][a-zA-Z0-9_]*)\s*\}\}/g;

/**
 * Prompt templates kept as files (`prompts/<name>.md`) with `{{name}}` placeholders. Rendering
 * fails loudly on a missing or an unused variable, so a renamed placeholder cannot silently send
 * the model an empty slot.
 */
export class PromptLibrary {
  private readonly templates: Map<string, string>;
  /** Hash of every template: part of the settings that decide whether earlier output is reusable. */
  readonly hash: string;

  private constructor(templates: Map<string, string>) {
    this.templates = templates;
    const h = createHash("sha256");
    for (const name of [...templates.keys()].sort())
      h.update(name)
        .update("\0")
        .update(templates.get(name) ?? "")
        .update("\0");
    this.hash = h.digest("hex").slice(0, 16);
  }

  static load(dir: string = DEFAULT_PROMPTS_DIR): PromptLibrary {
    const templates = new Map<string, string>();
    for (const file of fs.readdirSync(dir).sort()) {
      if (!file.endsWith(".md") || file.toLowerCase() === "readme.md") continue;
      templates.set(file.slice(0, -3), fs.readFileSync(path.join(dir, file), "utf8").replace(/\r\n?/g, "\n").trimEnd());
    }
    return new PromptLibrary(templates);
  }

  static fromTemplates(templates: Record<string, string>): PromptLibrary {
    return new PromptLibrary(new Map(Object.entries(templates)));
  }

  placeholders(name: string): string[] {
    const t = this.template(name);
    return [...new Set([...t.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ""))].sort();
  }

  render(name: string, vars: Readonly<Record<string, string | number>>): string {
    const template = this.template(name);
    const wanted = new Set(this.placeholders(name));
    const missing = [...wanted].filter((k) => !(k in vars));
    const unused = Object.keys(vars).filter((k) => !wanted.has(k));
    if (missing.length > 0 || unused.length > 0) {
      throw new UserError(
        "PROMPT_TEMPLATE",
        `Prompt "${name}": ${missing.length ? `missing value for ${missing.map((m) => `{{${m}}}`).join(", ")}` : ""}${missing.length && unused.length ? "; " : ""}${unused.length ? `no placeholder for ${unused.join(", ")}` : ""}.`,
        `Edit prompts/${name}.md or the node that renders it so their placeholders agree.`,
      );
    }
    // Values are inserted in one pass, so text inside a value is never treated as a placeholder.
    return template.replace(PLACEHOLDER, (_m, key: string) => String(vars[key]));
  }

  private template(name: string): string {
    const t = this.templates.get(name);
    if (t === undefined) throw new UserError("PROMPT_TEMPLATE", `No prompt named "${name}".`, `Add prompts/${name}.md.`);
    return t;
  }
}

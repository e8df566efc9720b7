/** `npm run docs:flags`: writes the README's options table of `npm run graph` from src/commands/runFlags.ts (test/unit/flagDocs.test.ts checks it is current). */
import fs from "node:fs";
import { renderFlagDocs } from "../src/commands/renderFlagDocs.ts";

const file = new URL("../README.md", import.meta.url);
const before = fs.readFileSync(file, "utf8");
const after = renderFlagDocs(before);
if (after !== before) fs.writeFileSync(file, after);
process.stdout.write(after === before ? "README.md: the flags table is current\n" : "README.md: flags table written\n");

import { withoutBidiControls } from "./bidiControls.ts";

/**
 * Text that reaches a terminal from data — file names, model output, error messages quoting them —
 * with every control character removed: ESC sequences (CSI such as colours and cursor moves, OSC
 * such as window titles and hyperlinks, and the rest), C0 controls except newline and tab
 * (carriage return and backspace could overwrite what was printed), DEL, C1 controls (U+0080 to
 * U+009F, which some terminals obey as ESC sequences), and bidi controls (which reorder how a line
 * is displayed). The reporter's own colours and redraws are written around such text, never
 * through it. File names reach it already escaped (newline and tab as `\x0A`, `\x09`: see
 * src/input/displayName.ts), so a name cannot print a line of its own.
 */
export function terminalText(text: string): string {
  return withoutBidiControls(
    text
      // OSC / DCS / SOS / PM / APC strings, ended by BEL or ST (ESC \) — or running to the end.
      .replace(/\u001b[\]PX^_][\s\S]*?(?:\u0007|\u001b\\|$)/g, "")
      // CSI: ESC [ parameters intermediates final byte.
      .replace(/\u001b\[[0-?]*[ -/]*[@-~]?/g, "")
      // Any other ESC sequence: ESC, intermediates, one final byte.
      .replace(/\u001b[ -/]*[0-~]?/g, "")
      // 8-bit CSI / OSC and the rest of C1, C0 except \t and \n, and DEL.
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, ""),
  );
}

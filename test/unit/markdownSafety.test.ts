import MarkdownIt from "markdown-it";
import { describe, expect, it } from "vitest";
import { codeSpan, safeInline, safeUrl } from "../../src/kb/markdownSafe.ts";
import { fence, mergeEntry, renderCategoryPage, renderEntryPage, renderIndex, renderQuarantine } from "../../src/kb/render.ts";
import { Reporter } from "../../src/progress/Reporter.ts";
import { terminalText } from "../../src/util/terminalText.ts";
import { contribution } from "../fixtures/kb/contributions.ts";
import { runCli } from "../helpers/cli.ts";

// The most permissive renderer: raw HTML on, as a page viewer that trusts the markdown would be.
const md = new MarkdownIt({ html: true, linkify: true });
const html = (markdown: string) => md.render(markdown);
const ESC = "\u001b";

describe("code spans", () => {
  it.each(["plain.md", "a`b.md", "``x``", "`lead", "trail`", "<img src=x onerror=alert(1)>.md", "a\nb"])("%j stays one code span with its text", (text) => {
    const out = html(codeSpan(text));
    const spans = [...out.matchAll(/<code>([\s\S]*?)<\/code>/g)].map((m) => m[1]);
    expect(spans).toHaveLength(1);
    const decoded = (spans[0] ?? "")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, "&");
    expect(decoded).toBe(text.replace(/\n/g, " "));
    expect(out).not.toMatch(/<img/);
  });

  it("a fence is never closed by the code inside it, and a hostile language tag is dropped", () => {
    const code = 'let s = "```";\n````\n<script>alert(1)</script>';
    const out = html(fence(code, "rust`onload"));
    expect(out.match(/<pre>/g)).toHaveLength(1);
    expect(out).not.toMatch(/<script>/);
    expect(out).toMatch(/<code>let s/); // no class="language-rust`onload"
  });
});

describe("prose from models and file names", () => {
  it.each([
    ["<script>alert(1)</script>", /<script/],
    ['<img src="https://evil.example/p.png">', /<img/],
    ["![tracker](https://evil.example/p.png?who=me)", /<img/],
    ["![tracker][ref]\n\n[ref]: https://evil.example/p.png", /<img/],
    ["[click](javascript:alert(1))", /href="javascript/],
    ["[x](data:text/html;base64,PHNjcmlwdD4=)", /href="data/],
    ["[x](//evil.example/a)", /href="\/\/evil/],
    ["[x](javascript&#58;alert(1))", /href=/],
    ["[x](javascript\\:alert(1))", /href=/],
    ["&lt;script&gt;", /<script/],
    ["[ref]: javascript:alert(1)", /javascript:alert\(1\)"/],
  ])("%j is shown as text", (text, forbidden) => {
    expect(html(safeInline(text))).not.toMatch(forbidden);
  });

  it("keeps no link whose destination a renderer would decode (entities, escapes)", () => {
    expect(safeInline("[x](javascript&#58;alert(1))")).not.toMatch(/\]\(/);
    expect(safeInline("[x](javascript\\:alert(1))")).not.toMatch(/\]\(/);
  });

  it("keeps http(s) and relative links, and the alt text of a dropped image", () => {
    expect(html(safeInline("see [the book](https://doc.rust-lang.org/book/) and [that](../patterns/x.md)"))).toMatch(
      /<a href="https:\/\/doc\.rust-lang\.org\/book\/">the book<\/a> and <a href="\.\.\/patterns\/x\.md">that<\/a>/,
    );
    expect(safeInline("before ![a diagram](https://x/p.png) after")).toBe("before a diagram after");
  });

  it("drops control characters and ESC sequences", () => {
    expect(safeInline(`red ${ESC}[31mALERT${ESC}[0m bell\u0007 c1\u009b`)).toBe("red [31mALERT[0m bell c1");
    expect(codeSpan(`${ESC}]0;pwned\u0007name.md`)).toBe("`]0;pwnedname.md`");
  });

  it("accepts only http(s) URLs, encoded so they cannot end a link early", () => {
    expect(safeUrl("https://example.com/a b)c")).toBe("https://example.com/a%20b%29c");
    expect(safeUrl("javascript:alert(1)")).toBeUndefined();
    expect(safeUrl("file:///etc/passwd")).toBeUndefined();
  });
});

describe("pages built from hostile names and model text", () => {
  const relPath = `notes/${ESC}[2J\`rm -rf\`<b>bold</b>.md`;
  const entry = mergeEntry([
    {
      ...contribution({
        relPath,
        name: "Evil <script>alert(1)</script> ![x](https://evil.example/n.png)",
        category: "api-design",
        summary: "Use it. ![pixel](https://evil.example/p.png) [click](javascript:alert(1)) <iframe src=//evil.example></iframe>",
        code: "fn main() {}\n```\n<img src=https://evil.example/c.png>",
        pitfalls: ["<img src=https://evil.example/q.png onerror=alert(1)>"],
      }),
      research: [{ id: "r1", provider: "tavily", title: "<b>t</b>", citation: "c`i`te", url: "javascript:alert(1)" }],
    },
  ]);
  // The YAML front matter is data for tools (its strings are quoted); viewers render the body.
  const body = (page: string) => page.replace(/^---\n[\s\S]*?\n---\n/, "");
  const pages = [renderEntryPage(entry), renderIndex([entry], 0), renderCategoryPage("api-design", [entry])];

  it("hold no raw HTML, no image, no unsafe link and no control character", () => {
    for (const page of pages) {
      const out = html(body(page));
      expect(out).not.toMatch(/<(script|img|iframe|b)[\s>]/);
      expect(out).not.toMatch(/href="(javascript|data):/);
      expect(page).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    }
  });

  it("show the file name whole in one code span", () => {
    const out = html(renderEntryPage(entry));
    expect(out).toContain("<code>notes/[2J`rm -rf`&lt;b&gt;bold&lt;/b&gt;.md</code>");
  });

  it("the quarantine page too", () => {
    const out = html(renderQuarantine([{ relPath, patternKey: "p`1", name: "<script>x</script>", problems: ["![i](https://evil.example/z.png)"] } as never]));
    expect(out).not.toMatch(/<(script|img)[\s>]/);
  });
});

/** Issue 23, finding 6: block markers and bidi controls at the start of data, in pages and in the terminal. */
describe("block markers and bidi controls from data", () => {
  const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

  it.each([
    ["- a list item", "<ul>"],
    ["* a list item", "<ul>"],
    ["+ a list item", "<ul>"],
    ["1. an ordered item", "<ol>"],
    ["7) an ordered item", "<ol>"],
    ["---", "<hr>"],
    ["***", "<hr>"],
    ["___", "<hr>"],
    ["- - -", "<hr>"],
  ])("%j at the start opens no block: a paragraph, as a list item's text and after a line", (text, forbidden) => {
    const out = safeInline(text);
    expect(html(out)).not.toContain(forbidden);
    // As pages use it: a list item's text, and a paragraph after another one.
    expect(html(`- ${out}`).match(/<(ul|ol|hr)>/g)).toEqual(["<ul>"]);
    expect(html(`Some text\n${out}`)).not.toMatch(/<h[12]>|<hr>|<ul>|<ol>/);
    // Shown as written: the escape is a backslash a renderer drops.
    expect(html(out).replace(/<\/?p>\n?/g, "")).toBe(text.replace(/&/g, "&amp;"));
  });

  it("=== or --- after a line of text makes no setext heading", () => {
    for (const underline of ["===", "---", "= = ="]) expect(html(`A line of text\n${safeInline(underline)}`)).not.toMatch(/<h[12]>/);
  });

  it("leaves ordinary prose alone", () => {
    expect(safeInline("2024 was a year; -1 is negative")).toBe("2024 was a year; -1 is negative");
    expect(safeInline("Use the builder.")).toBe("Use the builder.");
  });

  it("drops bidi controls in pages: prose, code spans, fences and the pages built from them", () => {
    const hostile = "access\u202E\u2066 level\u2069\u202C admin\u200F";
    expect(safeInline(hostile)).not.toMatch(BIDI);
    expect(codeSpan(hostile)).not.toMatch(BIDI);
    expect(fence(`let s = "${hostile}";`, "rust")).not.toMatch(BIDI);
    const entry = mergeEntry([
      contribution({ relPath: "notes/\u202Eevil.md", name: `Name ${hostile}`, category: "api-design", summary: hostile, code: `// ${hostile}` }),
    ]);
    // The body drops them; the front matter (YAML data) keeps the value, escaped as \u202e.
    const page = renderEntryPage(entry);
    expect(page).not.toMatch(BIDI);
    expect(page).toContain("\\u202e");
  });

  it("drops bidi controls in terminal text", () => {
    expect(terminalText("skipped \u202Egnp.md: \u2066x\u2069")).toBe("skipped gnp.md: x");
  });
});

describe("terminal text", () => {
  it("strips CSI, OSC (titles, hyperlinks), other ESC sequences, C0 but newline and tab, DEL and C1", () => {
    const hostile = `a${ESC}[31mred${ESC}[0m ${ESC}]0;title\u0007 ${ESC}]8;;https://evil.example${ESC}\\link${ESC}]8;;${ESC}\\ ${ESC}c x\r\by\u007f\u009b31m\tz\n`;
    expect(terminalText(hostile)).toBe("ared  link  xy31m\tz\n");
    expect(terminalText(hostile)).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });
});

describe("progress output", () => {
  it.each([false, true])("a file name with ESC sequences reaches stderr without them (live display %s)", (live) => {
    let err = "";
    const sink = {
      write: (s: string) => {
        err += s;
        return true;
      },
      isTTY: live,
      columns: 200,
    } as unknown as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
    const r = new Reporter({ err: sink, out: sink, json: false, live });
    const name = `${ESC}]0;owned\u0007${ESC}[2Jnotes/${ESC}[31mx.md`;
    r.handle({ type: "file_skipped", path: name, reason: `bad ${ESC}[5mbyte` });
    r.handle({ type: "file_finished", path: name, status: "processed", patterns: 1 });
    r.stop();
    // The live display's own cursor moves are the only ESC sequences allowed.
    const foreign = err.replace(/\u001b\[\d+A\u001b\[0J/g, "");
    expect(foreign).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(foreign).toContain("skipped notes/x.md: bad byte");
  });
});

describe("CLI error printing", () => {
  it("an argument with ESC sequences is echoed without them", async () => {
    const r = await runCli("kb", [`${ESC}]0;owned${ESC}\\${ESC}[2Jfrobnicate`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
    expect(r.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  }, 60_000);
});

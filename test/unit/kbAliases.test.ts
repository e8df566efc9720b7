import { describe, expect, it } from "vitest";
import { ALIAS_TABLE, buildAliasIndex, canonicalKey } from "../../src/kb/aliases.ts";
import { nameKey, normalizeName, slugify } from "../../src/kb/slug.ts";

describe("name normalisation for matching", () => {
  it.each([
    ["Newtypes", "newtype"],
    ["The newtype pattern", "newtype"],
    ["Deref polymorphism anti-pattern", "deref polymorphism"],
    ["Builder pattern in Rust", "builder"],
    ["unwrap_used", "unwrap used"],
    ["Collections are smart pointers", "collection are smart pointer"],
  ])("nameKey(%s) = %s", (name, key) => {
    expect(nameKey(name)).toBe(key);
  });

  it("keeps slugs of plain names as they were", () => {
    expect(slugify("Newtype pattern")).toBe("newtype");
    expect(slugify("`mem::replace` idiom")).toBe("mem-replace");
    expect(normalizeName("Iterating over an `Option`")).toBe("iterating over an option");
  });
});

describe("alias table", () => {
  const index = buildAliasIndex();

  it("maps the issue's three names of the newtype pattern to one key", () => {
    const keys = ["newtype", "Newtype pattern", "wrapper types for type safety", "Newtypes provide static distinctions"].map((n) => canonicalKey(n, index));
    expect(new Set(keys)).toEqual(new Set(["newtype"]));
  });

  it("maps corpus titles and file-stem IDs to their pattern", () => {
    expect(canonicalKey("mem::{take(_), replace(_)} to keep owned values in changed enums", index)).toBe(canonicalKey("mem-replace", index));
    expect(canonicalKey("coercion-arguments", index)).toBe(canonicalKey("Use borrowed types for arguments", index));
    expect(canonicalKey("Strategy (aka Policy)", index)).toBe("strategy");
    expect(canonicalKey("Builders enable construction of complex values", index)).toBe("builder");
  });

  it("leaves unknown names as their own key", () => {
    expect(canonicalKey("Sparse matrix layouts", index)).toBe("sparse matrix layout");
  });

  it("is unambiguous and every alias still has a word after normalisation", () => {
    expect(() => buildAliasIndex(ALIAS_TABLE)).not.toThrow();
    for (const row of ALIAS_TABLE) for (const a of [row.name, ...row.aliases]) expect(nameKey(a), a).not.toBe("");
  });

  it("refuses an alias that names two patterns", () => {
    expect(() => buildAliasIndex([...ALIAS_TABLE, { name: "Wrapper", aliases: ["newtype pattern"] }])).toThrow(/names both/);
  });

  it("takes extra aliases from the overrides file, also for names not in the table", () => {
    const extra = buildAliasIndex(ALIAS_TABLE, { "units of measure": "Newtype", "zero-copy parsing": "Borrowed parsing" });
    expect(canonicalKey("Units of measure", extra)).toBe("newtype");
    expect(canonicalKey("zero copy parsing", extra)).toBe("borrowed parsing");
  });
});

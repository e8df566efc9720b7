import { describe, expect, it } from "vitest";
import { normalizeName, slugify } from "../../src/kb/slug.ts";

describe("slugify", () => {
  it.each([
    ["Newtype", "newtype"],
    ["Newtype pattern", "newtype"],
    ["The Builder Pattern", "builder"],
    ["RAII guards", "raii-guards"],
    ["`mem::replace` idiom", "mem-replace"],
    ["Élan — über", "elan-uber"],
    ["C-CONV: conversion naming", "c-conv-conversion-naming"],
  ])("%s -> %s", (name, slug) => {
    expect(slugify(name)).toBe(slug);
  });
  it("is stable for names with no letters", () => {
    expect(slugify("!!!")).toMatch(/^pattern-[0-9a-f]{8}$/);
    expect(slugify("!!!")).toBe(slugify("!!!"));
  });
  it("bounds length", () => {
    expect(slugify("a ".repeat(100)).length).toBeLessThanOrEqual(60);
  });
  it("normalises for matching", () => {
    expect(normalizeName("  The NEWTYPE   Pattern ")).toBe("newtype");
  });
});

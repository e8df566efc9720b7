/**
 * The alias table: names under which the same Rust pattern is known. Two drafts whose names map
 * to the same canonical name become one entry without asking a model. Keep aliases unambiguous: an
 * alias that could name two different things ("wrapper", "operator") belongs in no row.
 */
import { nameKey } from "./slug.ts";
import type { CategoryId } from "./taxonomy.ts";

export interface AliasRow {
  /** Display name of the entry. */
  name: string;
  category?: CategoryId;
  aliases: readonly string[];
}

export const ALIAS_TABLE: readonly AliasRow[] = [
  {
    name: "Newtype",
    category: "type-safety",
    aliases: [
      "newtype pattern",
      "new type",
      "new type idiom",
      "newtypes provide static distinctions",
      "wrapper types for type safety",
      "wrapper type for type safety",
      "newtype wrapper",
      "tuple struct newtype",
    ],
  },
  {
    name: "Builder",
    category: "design-patterns",
    aliases: ["builder pattern", "builders enable construction of complex values", "builder api", "builder type", "non-consuming builder", "consuming builder"],
  },
  {
    name: "RAII with guards",
    category: "resource-management",
    aliases: ["raii", "raii guards", "raii guard", "resource acquisition is initialization", "guard objects", "scope guard", "drop guard"],
  },
  {
    name: "Finalisation in destructors",
    category: "resource-management",
    aliases: ["finalization in destructors", "dtor finally", "cleanup in drop", "drop for cleanup", "finally with drop"],
  },
  {
    name: "Constructors",
    category: "api-design",
    aliases: ["constructor", "new constructor", "constructors are static inherent methods", "ctor", "new as constructor"],
  },
  {
    name: "The Default trait",
    category: "traits-generics",
    aliases: ["default trait", "implement default", "default trait for constructors", "deriving default"],
  },
  { name: "Collections are smart pointers", category: "traits-generics", aliases: ["collections as smart pointers", "deref for collections"] },
  {
    name: "Deref polymorphism",
    category: "anti-patterns",
    aliases: ["deref polymorphism anti-pattern", "misusing deref", "deref for inheritance", "emulating inheritance with deref"],
  },
  {
    name: "Clone to satisfy the borrow checker",
    category: "anti-patterns",
    aliases: ["borrow clone", "cloning to satisfy the borrow checker", "clone to satisfy borrow checker"],
  },
  {
    name: "mem::take and mem::replace",
    category: "ownership-borrowing",
    aliases: [
      "mem replace",
      "mem take",
      "mem::replace",
      "mem::take",
      "std::mem::replace",
      "std::mem::take",
      "mem take and replace",
      "mem::{take(_), replace(_)} to keep owned values in changed enums",
      "keep owned values in changed enums",
    ],
  },
  {
    name: "Use borrowed types for arguments",
    category: "ownership-borrowing",
    aliases: [
      "coercion arguments",
      "borrowed types for arguments",
      "use borrowed types as arguments",
      "accept borrowed types",
      "prefer borrowed argument types",
    ],
  },
  {
    name: "Concatenating strings with format!",
    category: "performance",
    aliases: ["concat format", "format! for string concatenation", "string concatenation with format!", "concatenating strings with format"],
  },
  {
    name: "Iterating over an Option",
    category: "iterators-closures",
    aliases: ["option iter", "option as iterator", "option as an iterator", "iterate over option"],
  },
  {
    name: "Pass variables to closure",
    category: "iterators-closures",
    aliases: ["pass var to closure", "passing variables to closures", "rebinding variables for closures"],
  },
  {
    name: "#[non_exhaustive] and private fields for extensibility",
    category: "api-design",
    aliases: ["priv extend", "non_exhaustive", "non exhaustive", "private fields for extensibility", "non_exhaustive for extensibility"],
  },
  { name: "Return consumed argument on error", category: "error-handling", aliases: ["return consumed arg on error", "return the consumed argument on error"] },
  { name: "Easy doc initialization", category: "documentation-tooling", aliases: ["rustdoc init", "easy doc initialisation", "doc example initialization"] },
  { name: "Temporary mutability", category: "ownership-borrowing", aliases: ["temporary mutability idiom"] },
  { name: "On-stack dynamic dispatch", category: "traits-generics", aliases: ["on stack dyn dispatch", "on-stack dyn dispatch", "stack dynamic dispatch"] },
  { name: "Strategy", category: "design-patterns", aliases: ["strategy (aka policy)", "policy pattern", "strategy pattern", "strategy aka policy"] },
  { name: "Visitor", category: "design-patterns", aliases: ["visitor pattern"] },
  { name: "Command", category: "design-patterns", aliases: ["command pattern"] },
  { name: "Interpreter", category: "design-patterns", aliases: ["interpreter pattern"] },
  { name: "Fold", category: "design-patterns", aliases: ["fold pattern"] },
  { name: "Object-based APIs", category: "unsafe-ffi", aliases: ["object based apis", "object-based api", "ffi export"] },
  { name: "Type consolidation into wrappers", category: "unsafe-ffi", aliases: ["ffi wrappers", "type consolidation into wrapper"] },
  {
    name: "Struct decomposition for independent borrowing",
    category: "ownership-borrowing",
    aliases: ["compose structs", "compose structs together for better borrowing", "struct decomposition", "splitting structs for borrowing"],
  },
  { name: "Prefer small crates", category: "documentation-tooling", aliases: ["small crates"] },
  { name: "Use custom traits to avoid complex type bounds", category: "traits-generics", aliases: ["trait for bounds", "custom traits for complex bounds"] },
  { name: "Contain unsafety in small modules", category: "unsafe-ffi", aliases: ["unsafe mods", "unsafe modules", "contain unsafety"] },
  { name: "#![deny(warnings)]", category: "anti-patterns", aliases: ["deny warnings", "deny(warnings)", "#[deny(warnings)]"] },
  { name: "Generics as type classes", category: "functional", aliases: ["generics type classes", "generics as typeclasses"] },
  { name: "Functional language optics", category: "functional", aliases: ["optics", "lenses and prisms"] },
  {
    name: "Sealed trait",
    category: "api-design",
    aliases: ["sealed traits", "sealed trait pattern", "sealed traits protect against downstream implementations"],
  },
  { name: "Extension trait", category: "traits-generics", aliases: ["extension traits", "extension trait pattern", "ext trait"] },
  { name: "Typestate", category: "type-safety", aliases: ["type state", "typestate pattern", "type-state programming", "typestate programming"] },
  { name: "Interior mutability", category: "ownership-borrowing", aliases: ["interior mutability pattern"] },
  {
    name: "Error propagation with the ? operator",
    category: "error-handling",
    aliases: ["question mark operator", "the ? operator", "try operator", "error propagation with ?", "propagating errors with ?"],
  },
];

export interface AliasIndex {
  /** Canonical display name for a name key, if the key is a known name or alias. */
  lookup(key: string): AliasRow | undefined;
}

/**
 * Builds the lookup from name keys (see `nameKey`) to rows. `extra` maps more aliases to a
 * canonical name (from the overrides file); an extra alias of a name not in the table creates a
 * row of its own. Throws when one key would map to two rows: the table must stay unambiguous.
 */
export function buildAliasIndex(rows: readonly AliasRow[] = ALIAS_TABLE, extra: Readonly<Record<string, string>> = {}): AliasIndex {
  const byKey = new Map<string, AliasRow>();
  const add = (name: string, row: AliasRow) => {
    const key = nameKey(name);
    if (key === "") return;
    const had = byKey.get(key);
    if (had && had !== row) throw new Error(`alias "${name}" names both "${had.name}" and "${row.name}"`);
    byKey.set(key, row);
  };
  const all = [...rows];
  for (const [alias, canonical] of Object.entries(extra).sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    let row = all.find((r) => nameKey(r.name) === nameKey(canonical));
    if (!row) {
      row = { name: canonical, aliases: [] };
      all.push(row);
    }
    all[all.indexOf(row)] = { ...row, aliases: [...row.aliases, alias] };
  }
  for (const row of all) {
    add(row.name, row);
    for (const a of row.aliases) add(a, row);
  }
  return { lookup: (key) => byKey.get(key) };
}

/**
 * The key names are matched on: the alias table's canonical name when the name is in it,
 * otherwise the name itself (both through `nameKey`).
 */
export function canonicalKey(name: string, index: AliasIndex): string {
  const key = nameKey(name);
  const row = index.lookup(key);
  return row ? nameKey(row.name) : key;
}

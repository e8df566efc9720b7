import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSqlite, openSqliteReadOnly } from "../../src/store/openSqlite.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "open-sqlite-"));
  dirs.push(d);
  return d;
}

describe("openSqlite: the pragmas every store gets", () => {
  it("creates the directory; WAL, synchronous NORMAL, foreign keys, a 10 s busy timeout; incremental vacuum only when asked", () => {
    const dir = tmp();
    const a = openSqlite(path.join(dir, "deep", "a.sqlite"));
    expect(a.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(a.pragma("synchronous", { simple: true })).toBe(1);
    expect(a.pragma("busy_timeout", { simple: true })).toBe(10_000);
    expect(a.pragma("auto_vacuum", { simple: true })).toBe(0);
    expect(a.pragma("foreign_keys", { simple: true })).toBe(1);
    a.close();
    const b = openSqlite(path.join(dir, "b.sqlite"), { incrementalVacuum: true, busyTimeoutMs: 2_000 });
    expect(b.pragma("auto_vacuum", { simple: true })).toBe(2);
    expect(b.pragma("busy_timeout", { simple: true })).toBe(2_000);
    b.close();
  });

  it("read-only: a closed store is read from a copy (no -wal/-shm left behind); an open one through a read-only connection that sees committed work", () => {
    const dir = tmp();
    const file = path.join(dir, "s.sqlite");
    const w = openSqlite(file);
    w.exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)");
    w.close();
    const before = fs.readdirSync(dir).sort();
    const r = openSqliteReadOnly(file);
    expect(r.prepare("SELECT v FROM t").all()).toEqual([{ v: 1 }]);
    expect(() => r.exec("INSERT INTO t VALUES (2)")).toThrow(/readonly/i);
    r.close();
    expect(fs.readdirSync(dir).sort()).toEqual(before);

    const writer = openSqlite(file);
    writer.exec("INSERT INTO t VALUES (2)");
    const live = openSqliteReadOnly(file);
    expect(live.prepare("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: 2 });
    writer.exec("INSERT INTO t VALUES (3)");
    expect(live.prepare("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: 3 });
    live.close();
    writer.close();
  });
});

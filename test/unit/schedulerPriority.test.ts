import { describe, expect, it } from "vitest";
import { FairScheduler } from "../../src/llm/FairScheduler.ts";
import { promptReuse } from "../../src/llm/LlamaBackend.ts";
import { reusedFromTimings } from "../../src/llm/LlamaServerBackend.ts";

describe("FairScheduler priority (files in flight finish first)", () => {
  it("serves a waiting later-stage call before an earlier-stage call that waited longer", async () => {
    const s = new FairScheduler(1);
    const hold = await s.acquire("extractor");
    const order: string[] = [];
    const take = (role: "extractor" | "writer" | "validator", priority: number, name: string) =>
      s.acquire(role, { priority }).then((lease) => {
        order.push(name);
        lease.release();
      });
    const all = [take("extractor", 0, "new file's extractor"), take("writer", 2, "file 1's writer"), take("validator", 3, "file 2's validator")];
    hold.release();
    await Promise.all(all);
    expect(order).toEqual(["file 2's validator", "file 1's writer", "new file's extractor"]);
  });

  it("keeps first-come order among calls of the same priority and role", async () => {
    const s = new FairScheduler(1);
    const hold = await s.acquire("writer");
    const order: number[] = [];
    const all = [1, 2, 3].map((n) =>
      s.acquire("writer", { priority: 2 }).then((lease) => {
        order.push(n);
        lease.release();
      }),
    );
    hold.release();
    await Promise.all(all);
    expect(order).toEqual([1, 2, 3]);
  });

  it("still respects role caps: a capped high-priority role does not block a free slot for others", async () => {
    const s = new FairScheduler(2, { validator: 1 });
    const v = await s.acquire("validator", { priority: 3 });
    let second = false;
    void s.acquire("validator", { priority: 3 }).then(() => {
      second = true;
    });
    const e = await s.acquire("extractor", { priority: 0 });
    expect(second).toBe(false);
    e.release();
    v.release();
  });
});

describe("FairScheduler affinity (a file's calls return to the sequence holding its prefix)", () => {
  it("gives a key its last slot when that slot is free, even if other slots are free too", async () => {
    const s = new FairScheduler(3);
    const a = await s.acquire("extractor", { affinityKey: "a.md" });
    const b = await s.acquire("extractor", { affinityKey: "b.md" });
    expect([a.slot, b.slot]).toEqual([0, 1]);
    a.release();
    b.release();
    const b2 = await s.acquire("writer", { affinityKey: "b.md" });
    const a2 = await s.acquire("writer", { affinityKey: "a.md" });
    expect([a2.slot, b2.slot]).toEqual([0, 1]);
    a2.release();
    b2.release();
  });

  it("hands a new key the least recently used free slot, so recent files keep their prefixes", async () => {
    const s = new FairScheduler(3);
    for (const key of ["a.md", "b.md", "c.md"]) (await s.acquire("extractor", { affinityKey: key })).release();
    // a.md's slot (0) was used longest ago.
    (await s.acquire("writer", { affinityKey: "b.md" })).release();
    const d = await s.acquire("extractor", { affinityKey: "d.md" });
    expect(d.slot).toBe(0);
    d.release();
    // a.md lost its slot to d.md: it gets the least recently used one now (c.md's slot 2), not d.md's.
    const a = await s.acquire("writer", { affinityKey: "a.md" });
    expect(a.slot).toBe(2);
    a.release();
  });
});

describe("prompt reuse accounting", () => {
  it("counts the prefix a sequence kept from its last call, never the whole prompt", () => {
    // Held: last call's prompt [1..5] + answer [9]; now: prompt [1,2,3,7,8] + answer [9,9].
    expect(promptReuse([1, 2, 3, 4, 5, 9], [1, 2, 3, 7, 8, 9, 9], 2, 2)).toEqual({ tokens: 5, reused: 3 });
    // Same prompt again: all but the last prompt token reused.
    expect(promptReuse([1, 2, 3, 9], [1, 2, 3, 9], 1, 1)).toEqual({ tokens: 3, reused: 2 });
    // A cleared sequence reuses nothing.
    expect(promptReuse([], [1, 2, 3, 9], 3, 1)).toEqual({ tokens: 3, reused: 0 });
  });

  it("reads llama-server's cache_n, else prompt minus prompt_n, else nothing", () => {
    expect(reusedFromTimings(100, { cache_n: 80, prompt_n: 20 })).toBe(80);
    expect(reusedFromTimings(100, { prompt_n: 30 })).toBe(70);
    expect(reusedFromTimings(100, undefined)).toBe(0);
  });
});

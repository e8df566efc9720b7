import { describe, expect, it } from "vitest";
import { FairScheduler } from "../../src/llm/FairScheduler.ts";
import { divideThreads } from "../../src/llm/threads.ts";
import { Semaphore } from "../../src/util/Semaphore.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("FairScheduler", () => {
  it("never leases more than the slots and queues the rest (backpressure)", async () => {
    const s = new FairScheduler(2);
    const a = await s.acquire("writer");
    const b = await s.acquire("writer");
    let third = false;
    const c = s.acquire("writer").then((l) => {
      third = true;
      return l;
    });
    await tick();
    expect(third).toBe(false);
    expect(s.stats()).toMatchObject({ free: 0, waiting: { writer: 1 } });
    a.release();
    const lease = await c;
    expect(lease.slot).toBe(a.slot);
    b.release();
    lease.release();
    expect(s.stats().free).toBe(2);
  });

  it("serves roles in turn, so a burst of extractor calls cannot starve the writers", async () => {
    const s = new FairScheduler(1);
    const hold = await s.acquire("extractor");
    const order: string[] = [];
    const take = (role: "extractor" | "writer" | "validator") =>
      s.acquire(role).then((lease) => {
        order.push(role);
        lease.release();
      });
    const all = [...Array.from({ length: 5 }, () => take("extractor")), take("writer"), take("validator")];
    hold.release();
    await Promise.all(all);
    expect(order).toEqual(["writer", "validator", "extractor", "extractor", "extractor", "extractor", "extractor"]);
  });

  it("caps each role at its agent count even with free slots", async () => {
    const s = new FairScheduler(4, { synthesizer: 1 });
    const a = await s.acquire("synthesizer");
    let second = false;
    void s.acquire("synthesizer").then(() => {
      second = true;
    });
    await tick();
    expect(second).toBe(false);
    expect(s.stats().free).toBe(3);
    a.release();
    await tick();
    expect(second).toBe(true);
  });

  it("limitActive: at most N calls at once, every slot kept for its file's cache, the furthest-along call first", async () => {
    const s = new FairScheduler(4);
    // Each file's first call takes a slot of its own (affinity), then the limit applies.
    const first = await s.acquire("extractor", { affinityKey: "a.md" });
    const other = await s.acquire("extractor", { affinityKey: "b.md" });
    first.release();
    other.release();
    s.limitActive(1);
    expect(s.stats()).toMatchObject({ slots: 4, maxActive: 1, free: 4 });
    const running = await s.acquire("extractor", { affinityKey: "b.md", priority: 0 });
    expect(running.slot).toBe(other.slot);
    const order: string[] = [];
    const take = (key: string, role: "extractor" | "writer", priority: number) =>
      s.acquire(role, { affinityKey: key, priority }).then((lease) => {
        order.push(`${key} ${role} slot ${lease.slot}`);
        expect(s.stats().free).toBe(3);
        lease.release();
      });
    const waiting = [take("b.md", "extractor", 0), take("a.md", "writer", 2)];
    await tick();
    // Three slots are free, yet both calls wait: one call is running.
    expect(s.stats()).toMatchObject({ free: 3, waiting: { extractor: 1, writer: 1 } });
    running.release();
    await Promise.all(waiting);
    expect(order).toEqual([`a.md writer slot ${first.slot}`, `b.md extractor slot ${other.slot}`]);
    expect(() => s.limitActive(0)).toThrow(/positive integer/);
  });

  it("limitActive with a hold: the file that just ran keeps the engine for its next call; a more urgent call does not wait", async () => {
    const s = new FairScheduler(4);
    s.limitActive(1, 60);
    const served: string[] = [];
    const take = (key: string, priority: number) =>
      s.acquire("writer", { affinityKey: key, priority }).then((lease) => {
        served.push(key);
        return lease;
      });
    const a1 = await take("old.md", 5);
    const young = take("young.md", -5);
    await tick();
    a1.release();
    // The engine is held for old.md: the younger file's call still waits.
    await tick();
    expect(served).toEqual(["old.md"]);
    // old.md's next call, a few ms later, goes first.
    await new Promise((r) => setTimeout(r, 10));
    const a2 = await take("old.md", 6);
    expect(served).toEqual(["old.md", "old.md"]);
    a2.release();
    // old.md has no next call: the hold runs out and the younger file goes.
    const y = await young;
    expect(served).toEqual(["old.md", "old.md", "young.md"]);
    // A call more urgent than the holder's does not wait for the hold.
    const urgent = take("older.md", 20);
    y.release();
    (await urgent).release();
    expect(served.at(-1)).toBe("older.md");
    expect(() => s.limitActive(1, -1)).toThrow(/>= 0 ms/);
  });

  it("rejects a waiting call when its signal aborts and keeps the slot count right", async () => {
    const s = new FairScheduler(1);
    const a = await s.acquire("writer");
    const ac = new AbortController();
    const waiting = s.acquire("writer", ac.signal);
    ac.abort();
    await expect(waiting).rejects.toThrow();
    a.release();
    expect(s.stats()).toMatchObject({ free: 1, waiting: { writer: 0 } });
  });
});

describe("Semaphore", () => {
  it("limits holders and hands permits over in order", async () => {
    const sem = new Semaphore(1);
    const r1 = await sem.acquire();
    const got: number[] = [];
    const take = (n: number) =>
      sem.acquire().then((release) => {
        got.push(n);
        return release;
      });
    const w2 = take(2);
    const w3 = take(3);
    r1();
    (await w2)();
    (await w3)();
    expect(got).toEqual([2, 3]);
  });
});

describe("divideThreads", () => {
  it.each([
    [2, [1], [2]],
    [8, [30], [8]],
    [8, [28, 2], [7, 1]],
    [2, [10, 10, 10], [1, 1, 1]],
    [16, [1, 1, 1], [6, 5, 5]],
  ])("divides %i threads by weights %j -> %j", (total, weights, expected) => {
    const r = divideThreads(total, weights);
    expect(r).toEqual(expected);
  });
  it("never hands out more than the total when there are enough threads", () => {
    for (let t = 3; t < 40; t++) expect(divideThreads(t, [5, 1, 3]).reduce((a, b) => a + b, 0)).toBe(t);
  });
});

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

import { describe, expect, it } from "vitest";
import { BoundedQueue } from "../../../../api/accounts/bounded-queue";
import { StrengthChecker } from "../../../../api/accounts/strength-worker";
import { AppError } from "../../../../shared/contract/errors";
import { gate, nextTurn } from "../../../support/waits";

describe("the bounded queue in front of argon2", () => {
  it("runs `concurrency` jobs, queues `maxWaiting` in order, and refuses the rest at once with 503", async () => {
    const queue = new BoundedQueue(2, 3, "test");
    const order: number[] = [];
    let running = 0;
    let most = 0;
    /** Each started job's end, in the order they started: the test ends them. */
    const ends: (() => void)[] = [];
    const job = (n: number) => async () => {
      running += 1;
      most = Math.max(most, running);
      const done = gate();
      ends.push(done.open);
      await done.opened;
      order.push(n);
      running -= 1;
      return n;
    };
    const runs = Array.from({ length: 8 }, (_, n) => queue.run(job(n)));
    const results = Promise.allSettled(runs);
    // Before any job ended: two run, three wait, and the rest are refused already.
    let refusedEarly = 0;
    for (const run of runs) run.catch(() => (refusedEarly += 1));
    await nextTurn();
    expect([ends.length, refusedEarly]).toEqual([2, 3]);
    // Each job that ends hands its slot to the next waiting one.
    for (let i = 0; i < 5; i += 1) {
      ends[i]!();
      await nextTurn();
    }
    const settled = await results;
    expect(settled.slice(0, 5).map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "fulfilled", "fulfilled"]);
    const refused = settled.slice(5).map((r) => (r.status === "rejected" ? r.reason : undefined));
    for (const err of refused) {
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: "unavailable", status: 503 });
      expect((err as AppError).retryAfter).toBeGreaterThanOrEqual(1);
    }
    expect(most).toBe(2);
    expect(order.slice(2)).toEqual([2, 3, 4]);
    expect(queue.size).toEqual({ running: 0, waiting: 0 });
  });

  it("frees its slot when a job fails", async () => {
    const queue = new BoundedQueue(1, 0, "test");
    await expect(queue.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await queue.run(async () => "next")).toBe("next");
  });
});

describe("the zxcvbn worker", () => {
  it("refuses checks beyond its queue at once with 503", async () => {
    const checker = new StrengthChecker({ maxPending: 2 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => checker.check("correct horse battery staple", [])));
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "rejected"]);
      expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: "unavailable", status: 503 });
      expect((await checker.check("Tr0ub4dor&3-horse", [])).score).toBeGreaterThanOrEqual(0);
    } finally {
      await checker.close();
    }
  });

  it("gives up a check that takes too long with 503, and a new worker answers", async () => {
    const checker = new StrengthChecker({ timeoutMs: 1 });
    try {
      // Long and symbol-dense: far more than a millisecond of zxcvbn.
      await expect(checker.check("!@#$%^&*()_+{}|:<>?~`-=[]\\\\;',./".repeat(2), [])).rejects.toMatchObject({ code: "unavailable" });
    } finally {
      await checker.close();
    }
    const patient = new StrengthChecker({ timeoutMs: 5_000 });
    try {
      expect((await patient.check("correct horse battery staple", [])).score).toBe(4);
    } finally {
      await patient.close();
    }
  });
});

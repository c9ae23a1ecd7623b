import { describe, expect, it } from "vitest";
import { serialQueue } from "../../../../gateway/socket/serial-queue";

describe("a serial queue", () => {
  it("runs tasks in order, one at a time, past failures", async () => {
    const serial = serialQueue();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, ms: number, fail = false) => async () => {
      running += 1;
      expect(running).toBe(1);
      await new Promise((r) => setTimeout(r, ms));
      log.push(name);
      running -= 1;
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([serial(task("a", 20)), serial(task("b", 1, true)), serial(task("c", 5))]);
    expect(log).toEqual(["a", "b", "c"]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  });
});

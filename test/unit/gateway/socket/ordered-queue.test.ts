import { describe, expect, it } from "vitest";
import { orderedQueue } from "../../../../gateway/socket/ordered-queue";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("an ordered queue", () => {
  it("starts every task at once but hands them on in arrival order, past failures", async () => {
    const queue = orderedQueue();
    const started: string[] = [];
    const handed: string[] = [];
    const task = (name: string, checkMs: number, fail = false) =>
      queue(async (turn, handedOn) => {
        started.push(name);
        await sleep(checkMs); // its own checks, overlapping the others'
        await turn();
        if (fail) throw new Error(name);
        handed.push(name);
        handedOn();
        await sleep(5); // its store, after handing on: the next may hand on meanwhile
        return name;
      });
    const results = await Promise.allSettled([task("a", 30), task("b", 1, true), task("c", 1), task("d", 10)]);
    expect(started).toEqual(["a", "b", "c", "d"]);
    expect(handed).toEqual(["a", "c", "d"]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
  });

  it("lets a later task's checks run while an earlier one waits", async () => {
    const queue = orderedQueue();
    const events: string[] = [];
    const first = queue(async (turn, handedOn) => {
      await turn();
      await sleep(20);
      events.push("first handed on");
      handedOn();
    });
    const second = queue(async (turn) => {
      events.push("second checking");
      await turn();
      events.push("second's turn");
    });
    await Promise.all([first, second]);
    expect(events).toEqual(["second checking", "first handed on", "second's turn"]);
  });
});

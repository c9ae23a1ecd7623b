import { describe, expect, it } from "vitest";
import { orderedQueue } from "../../../../gateway/socket/ordered-queue";
import { gate, nextTurn } from "../../../support/waits";

describe("an ordered queue", () => {
  it("starts every task at once but hands them on in arrival order, past failures", async () => {
    const queue = orderedQueue();
    const started: string[] = [];
    const handed: string[] = [];
    /** A task whose checks and store end when the test opens their gates. */
    const task = (name: string, fail = false) => {
      const [checks, store] = [gate(), gate()];
      const result = queue(async (turn, handedOn) => {
        started.push(name);
        await checks.opened; // its own checks, overlapping the others'
        await turn();
        if (fail) throw new Error(name);
        handed.push(name);
        handedOn();
        await store.opened; // its store, after handing on: the next may hand on meanwhile
        return name;
      });
      return { checks, store, result };
    };
    const [a, b, c, d] = [task("a"), task("b", true), task("c"), task("d")];
    const results = Promise.allSettled([a, b, c, d].map((t) => t.result));
    expect(started).toEqual(["a", "b", "c", "d"]);
    // The later ones are done checking first: none hands on before the first has.
    for (const t of [b, c, d]) t.checks.open();
    await nextTurn();
    expect(handed).toEqual([]);
    // The first hands on; the others follow while its store is still under way (b, failing, by ending).
    a.checks.open();
    await nextTurn();
    expect(handed).toEqual(["a", "c", "d"]);
    for (const t of [a, c, d]) t.store.open();
    expect((await results).map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
  });

  it("lets a later task's checks run while an earlier one waits", async () => {
    const queue = orderedQueue();
    const events: string[] = [];
    const stored = gate();
    const first = queue(async (turn, handedOn) => {
      await turn();
      await stored.opened;
      events.push("first handed on");
      handedOn();
    });
    const second = queue(async (turn) => {
      events.push("second checking");
      await turn();
      events.push("second's turn");
    });
    await nextTurn();
    expect(events).toEqual(["second checking"]);
    stored.open();
    await Promise.all([first, second]);
    expect(events).toEqual(["second checking", "first handed on", "second's turn"]);
  });
});

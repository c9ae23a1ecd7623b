import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Batcher } from "../../../shared/db/batcher";
import { gate } from "../../support/waits";

// The batcher's own timers (its interval, its next turn) and performance.now() run on vitest's fake
// clock: the test moves it, so times are exact and nothing is waited for.
beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

/** Moves the fake clock, running the timers that fall due and the promise callbacks they start. */
const clockMoves = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/** A batcher whose statements are recorded (their items and start times); each answers at once, or once `hold` resolves. */
function recorder(options: { minIntervalMs?: number; maxInFlight?: number; enoughToGo?: number; hold?: Promise<void> }) {
  const { hold, ...batching } = options;
  const statements: { items: string[]; at: number }[] = [];
  const batcher = new Batcher<string, string>({
    ...batching,
    run: async (items) => {
      statements.push({ items, at: performance.now() });
      await hold;
      return items.map((i) => (i === "bad" ? new Error("refused") : `ok ${i}`));
    },
  });
  return { batcher, statements };
}

describe("Batcher", () => {
  it("answers each request by its own result, one statement for what arrived in the same turn", async () => {
    const { batcher, statements } = recorder({});
    const answers = Promise.allSettled(["a", "bad", "c"].map((i) => batcher.submit(i)));
    await clockMoves(0);
    expect(statements.map((s) => s.items)).toEqual([["a", "bad", "c"]]);
    expect((await answers).map((a) => (a.status === "fulfilled" ? a.value : (a.reason as Error).message))).toEqual(["ok a", "refused", "ok c"]);
  });

  it("with a minimum interval, sends what arrives within it together once it is over", async () => {
    const { batcher, statements } = recorder({ minIntervalMs: 150, maxInFlight: 1 });
    const first = batcher.submit("a");
    await clockMoves(10);
    const later = [batcher.submit("b")];
    await clockMoves(20);
    later.push(batcher.submit("c"));
    await clockMoves(119);
    // A millisecond before the interval is over: still waiting.
    expect(statements.map((s) => s.items)).toEqual([["a"]]);
    await clockMoves(1);
    expect(statements.map((s) => s.items)).toEqual([["a"], ["b", "c"]]);
    expect(statements[1]!.at - statements[0]!.at).toBe(150);
    expect(await Promise.all([first, ...later])).toEqual(["ok a", "ok b", "ok c"]);
  });

  it("with a minimum interval, sends a request at once when no statement began within it", async () => {
    const { batcher, statements } = recorder({ minIntervalMs: 150, maxInFlight: 1 });
    const first = batcher.submit("a");
    await clockMoves(0);
    expect(statements.map((s) => s.items)).toEqual([["a"]]);
    expect(await first).toBe("ok a");
    await clockMoves(200);
    const submitted = performance.now();
    const second = batcher.submit("b");
    await clockMoves(0);
    expect(statements.map((s) => s.items)).toEqual([["a"], ["b"]]);
    // On the next turn: it did not wait for an interval.
    expect(statements[1]!.at - submitted).toBe(0);
    expect(await second).toBe("ok b");
  });

  it("with a minimum interval, sends at once when enough requests wait", async () => {
    const { batcher, statements } = recorder({ minIntervalMs: 150, maxInFlight: 1, enoughToGo: 3 });
    const first = batcher.submit("a");
    await clockMoves(10);
    const later = [batcher.submit("b"), batcher.submit("c")];
    await clockMoves(20);
    // Two waiting: they wait out the interval. A third makes enough.
    expect(statements.map((s) => s.items)).toEqual([["a"]]);
    later.push(batcher.submit("d"));
    await clockMoves(0);
    expect(statements.map((s) => s.items)).toEqual([["a"], ["b", "c", "d"]]);
    expect(await Promise.all([first, ...later])).toEqual(["ok a", "ok b", "ok c", "ok d"]);
    // When the third arrived (30 ms in), not when the interval was over (150 ms).
    expect(statements[1]!.at - statements[0]!.at).toBe(30);
    // And a statement that answers with enough waiting starts the next one at once.
    const answered = gate();
    const { batcher: busy, statements: busyStatements } = recorder({ minIntervalMs: 150, maxInFlight: 1, enoughToGo: 3, hold: answered.opened });
    const all = [busy.submit("e")];
    await clockMoves(5);
    all.push(busy.submit("f"), busy.submit("g"), busy.submit("h"));
    await clockMoves(15);
    expect(busyStatements.map((s) => s.items)).toEqual([["e"]]);
    answered.open(); // e's statement answers, 20 ms in
    await clockMoves(0);
    expect(busyStatements.map((s) => s.items)).toEqual([["e"], ["f", "g", "h"]]);
    expect(busyStatements[1]!.at - busyStatements[0]!.at).toBe(20);
    expect(await Promise.all(all)).toEqual(["ok e", "ok f", "ok g", "ok h"]);
  });

  it("starts the next statement (what arrived meanwhile) before the answered requests' callers run", async () => {
    const events: string[] = [];
    const answered = gate();
    const batcher = new Batcher<string, string>({
      maxInFlight: 1,
      run: async (items) => {
        events.push(`start ${items.join(",")}`);
        await answered.opened;
        return items.map((i) => `ok ${i}`);
      },
    });
    const first = batcher.submit("a").then((v) => events.push(`caller ${v}`));
    await clockMoves(5);
    const second = batcher.submit("b").then((v) => events.push(`caller ${v}`));
    await clockMoves(0);
    expect(events).toEqual(["start a"]);
    answered.open();
    await clockMoves(0);
    expect(events).toEqual(["start a", "start b", "caller ok a", "caller ok b"]);
    await Promise.all([first, second]);
  });
});

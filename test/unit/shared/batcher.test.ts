import { describe, expect, it } from "vitest";
import { Batcher } from "../../../shared/db/batcher";

/** A batcher whose statements are recorded (their items and start times) and answer after `ms`. */
function recorder(options: { minIntervalMs?: number; maxInFlight?: number; ms?: number; enoughToGo?: number }) {
  const statements: { items: string[]; at: number }[] = [];
  const batcher = new Batcher<string, string>({
    ...options,
    run: async (items) => {
      statements.push({ items, at: performance.now() });
      await new Promise((resolve) => setTimeout(resolve, options.ms ?? 1));
      return items.map((i) => (i === "bad" ? new Error("refused") : `ok ${i}`));
    },
  });
  return { batcher, statements };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("Batcher", () => {
  it("answers each request by its own result, one statement for what arrived in the same turn", async () => {
    const { batcher, statements } = recorder({});
    const answers = await Promise.allSettled(["a", "bad", "c"].map((i) => batcher.submit(i)));
    expect(answers.map((a) => (a.status === "fulfilled" ? a.value : (a.reason as Error).message))).toEqual(["ok a", "refused", "ok c"]);
    expect(statements.map((s) => s.items)).toEqual([["a", "bad", "c"]]);
  });

  it("with a minimum interval, sends what arrives within it together once it is over", async () => {
    const { batcher, statements } = recorder({ minIntervalMs: 150, maxInFlight: 1 });
    const first = batcher.submit("a");
    await sleep(10);
    const later = [batcher.submit("b")];
    await sleep(20);
    later.push(batcher.submit("c"));
    expect(await Promise.all([first, ...later])).toEqual(["ok a", "ok b", "ok c"]);
    expect(statements.map((s) => s.items)).toEqual([["a"], ["b", "c"]]);
    // Timers may fire a millisecond early; the point is that the second did not go at once.
    expect(statements[1]!.at - statements[0]!.at).toBeGreaterThanOrEqual(140);
  });

  it("with a minimum interval, sends a request at once when no statement began within it", async () => {
    const { batcher, statements } = recorder({ minIntervalMs: 150, maxInFlight: 1 });
    await batcher.submit("a");
    await sleep(200);
    const submitted = performance.now();
    await batcher.submit("b");
    expect(statements.map((s) => s.items)).toEqual([["a"], ["b"]]);
    // Well under the interval: it did not wait for one.
    expect(statements[1]!.at - submitted).toBeLessThan(100);
  });

  it("with a minimum interval, sends at once when enough requests wait", async () => {
    const { batcher, statements } = recorder({ minIntervalMs: 150, maxInFlight: 1, enoughToGo: 3 });
    const first = batcher.submit("a");
    await sleep(10);
    const later = [batcher.submit("b"), batcher.submit("c")];
    await sleep(20);
    // Two waiting: they wait out the interval. A third makes enough.
    expect(statements.map((s) => s.items)).toEqual([["a"]]);
    later.push(batcher.submit("d"));
    expect(await Promise.all([first, ...later])).toEqual(["ok a", "ok b", "ok c", "ok d"]);
    expect(statements.map((s) => s.items)).toEqual([["a"], ["b", "c", "d"]]);
    expect(statements[1]!.at - statements[0]!.at).toBeLessThan(100);
    // And a statement that answers with enough waiting starts the next one at once.
    const { batcher: busy, statements: busyStatements } = recorder({ minIntervalMs: 150, maxInFlight: 1, enoughToGo: 3, ms: 20 });
    const all = [busy.submit("e")];
    await sleep(5);
    all.push(busy.submit("f"), busy.submit("g"), busy.submit("h"));
    await Promise.all(all);
    expect(busyStatements.map((s) => s.items)).toEqual([["e"], ["f", "g", "h"]]);
    expect(busyStatements[1]!.at - busyStatements[0]!.at).toBeLessThan(100);
  });

  it("starts the next statement (what arrived meanwhile) before the answered requests' callers run", async () => {
    const events: string[] = [];
    const batcher = new Batcher<string, string>({
      maxInFlight: 1,
      run: async (items) => {
        events.push(`start ${items.join(",")}`);
        await sleep(20);
        return items.map((i) => `ok ${i}`);
      },
    });
    const first = batcher.submit("a").then((v) => events.push(`caller ${v}`));
    await sleep(5);
    const second = batcher.submit("b").then((v) => events.push(`caller ${v}`));
    await Promise.all([first, second]);
    expect(events).toEqual(["start a", "start b", "caller ok a", "caller ok b"]);
  });
});

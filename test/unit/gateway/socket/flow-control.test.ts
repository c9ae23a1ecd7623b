import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ExpiryWheel } from "../../gateway/sessions/expiry-wheel";
import { EventBudget } from "../../gateway/socket/event-budget";
import { serialQueue } from "../../gateway/socket/flow";
import type { GatewaySocket } from "../../gateway/socket/types";

const fakeSocket = (id: string, exp: number) => ({ id, data: { userId: "u", sessionId: "s", exp } }) as unknown as GatewaySocket;

describe("the expiry wheel", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-11-28T12:00:00.000Z"));
  });
  afterEach(() => vi.useRealTimers());

  const now = () => Math.floor(Date.now() / 1000);

  it("warns warnSeconds before exp, then expires within a tick of exp", () => {
    const events: string[] = [];
    const wheel = new ExpiryWheel({ warnSeconds: 30, onWarn: (s) => events.push(`warn ${s.id} ${now()}`), onExpire: (s) => events.push(`end ${s.id} ${now()}`) });
    const start = now();
    wheel.track(fakeSocket("a", start + 60));
    vi.advanceTimersByTime(29_000);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1_250);
    expect(events).toEqual([`warn a ${start + 30}`]);
    vi.advanceTimersByTime(29_000);
    expect(events).toHaveLength(1);
    vi.advanceTimersByTime(1_250);
    expect(events).toEqual([`warn a ${start + 30}`, `end a ${start + 60}`]);
    expect(wheel.size).toBe(0);
    wheel.stop();
  });

  it("warns at once when less than warnSeconds remain, and forgets untracked sockets", () => {
    const events: string[] = [];
    const wheel = new ExpiryWheel({ warnSeconds: 30, onWarn: (s) => events.push(`warn ${s.id}`), onExpire: (s) => events.push(`end ${s.id}`) });
    wheel.track(fakeSocket("soon", now() + 5));
    const gone = fakeSocket("gone", now() + 5);
    wheel.track(gone);
    wheel.untrack(gone);
    vi.advanceTimersByTime(300);
    expect(events).toEqual(["warn soon"]);
    vi.advanceTimersByTime(6_000);
    expect(events).toEqual(["warn soon", "end soon"]);
    wheel.stop();
  });

  it("re-files a socket whose exp moved (auth:refresh)", () => {
    const events: string[] = [];
    const wheel = new ExpiryWheel({ warnSeconds: 2, onWarn: () => undefined, onExpire: (s) => events.push(`end ${s.id}`) });
    const socket = fakeSocket("r", now() + 3);
    wheel.track(socket);
    vi.advanceTimersByTime(2_000);
    (socket.data as { exp: number }).exp = now() + 10;
    wheel.track(socket);
    vi.advanceTimersByTime(3_000);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(7_500);
    expect(events).toEqual(["end r"]);
    expect(wheel.size).toBe(0);
    wheel.stop();
  });
});

describe("flow control", () => {
  afterEach(() => vi.useRealTimers());

  it("an event budget allows a burst, then the steady rate, per socket", () => {
    vi.useFakeTimers();
    const budget = new EventBudget({ burst: 3, perSecond: 2, maxRefusedInARow: 100 });
    const a = fakeSocket("a", 0);
    const b = fakeSocket("b", 0);
    expect([budget.take(a), budget.take(a), budget.take(a), budget.take(a)]).toEqual(["ok", "ok", "ok", "refused"]);
    expect(budget.take(b)).toBe("ok");
    vi.advanceTimersByTime(500);
    expect([budget.take(a), budget.take(a)]).toEqual(["ok", "refused"]);
    vi.advanceTimersByTime(10_000);
    expect([budget.take(a), budget.take(a), budget.take(a), budget.take(a)]).toEqual(["ok", "ok", "ok", "refused"]);
  });

  it("charges work found out later as debt, and calls a socket that ignores refusals a flood", () => {
    vi.useFakeTimers();
    const budget = new EventBudget({ burst: 10, perSecond: 10, maxRefusedInARow: 3 });
    const a = fakeSocket("a", 0);
    expect(budget.take(a)).toBe("ok");
    budget.charge(a, 15); // 10 - 1 - 15 = -6
    expect(budget.take(a)).toBe("refused");
    vi.advanceTimersByTime(600); // -6 + 6 = 0
    expect(budget.take(a)).toBe("refused");
    expect(budget.take(a)).toBe("refused");
    expect(budget.take(a)).toBe("flooding");
    expect(budget.take(a)).toBe("dropped");
    vi.advanceTimersByTime(200);
    expect(budget.take(a)).toBe("ok");
  });

  it("a serial queue runs tasks in order, one at a time, past failures", async () => {
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

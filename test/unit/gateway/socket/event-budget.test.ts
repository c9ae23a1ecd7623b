import { afterEach, describe, expect, it, vi } from "vitest";
import { EventBudget } from "../../../../gateway/socket/event-budget";
import type { GatewaySocket } from "../../../../gateway/socket/types";

const fakeSocket = (id: string, exp: number) => ({ id, data: { userId: "u", sessionId: "s", exp } }) as unknown as GatewaySocket;

describe("the event budget", () => {
  afterEach(() => vi.useRealTimers());

  it("allows a burst, then the steady rate, per socket", () => {
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
});

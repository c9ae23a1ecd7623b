import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ExpiryWheel } from "../../../../gateway/sessions/expiry-wheel";
import type { GatewaySocket } from "../../../../gateway/socket/types";

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

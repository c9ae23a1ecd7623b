import type { ServerToClientEvents } from "../../shared/contract/events";
import type { ClientSocket } from "./socket-client";

const POLL_MS = 25;
const poll = () => new Promise<void>((resolve) => setTimeout(resolve, POLL_MS));

/** Polls `condition` until it holds, failing after `timeoutMs` (no fixed sleeps in tests). */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = "condition"): Promise<void> {
  if (!(await holdsWithin(condition, timeoutMs))) throw new Error(`timed out waiting for ${what}`);
}

/** Whether `condition` comes to hold within `timeoutMs` (polled as `eventually` does): for a retry loop that acts again when it does not. */
export async function holdsWithin(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await poll();
  }
}

/**
 * Resolves once `measure()` has stayed the same for `quietMs` (nothing more arrived), failing after
 * `timeoutMs`: for a baseline taken once what was under way has all come in.
 */
export async function quiet(measure: () => unknown, quietMs: number, timeoutMs: number, what = "quiet"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = measure();
  let since = Date.now();
  for (;;) {
    await poll();
    const now = measure();
    if (!Object.is(now, last)) [last, since] = [now, Date.now()];
    else if (Date.now() - since >= quietMs) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/**
 * Lets `ms` of wall-clock time pass. Only for what is about time itself and can be neither a wait on
 * a condition nor a fake clock: a pace (one send per interval), a window in which something must not
 * happen (a reconnect, a second announcement) on real timers beside real I/O, a lifetime that must
 * really run out in another process or a browser. `why` says which; never use it to wait for
 * something to happen (that is `eventually`, `nextEvent`, …).
 */
export function clockPasses(ms: number, why: string): Promise<void> {
  if (!why) throw new Error("clockPasses: say why the clock must pass");
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One turn of the event loop: every callback already due has run (the promise reactions of work
 * that settles in this process without I/O). Not with fake timers (they fake setImmediate too).
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A promise the test resolves: stands in for work (a check, a job, a statement) whose end the test decides. */
export function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

type Payload<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>[0];

/** Socket.IO types listeners per event name; with a generic event name it cannot pick the overload (as `ask` does for emit). */
type AnyListen = (event: string, listener: (arg: never) => void) => unknown;

/** The next `event` on the socket (its first argument), within `timeoutMs`. */
export function nextEvent<E extends keyof ServerToClientEvents>(socket: ClientSocket, event: E, timeoutMs = 5_000): Promise<Payload<E>> {
  return nextEventNamed(socket, event, timeoutMs) as Promise<Payload<E>>;
}

/** Like `nextEvent`, for an event named at run time (one a document lists): its payload is for the test to check. */
export function nextEventNamed(socket: ClientSocket, event: string, timeoutMs = 5_000): Promise<unknown> {
  const once = socket.once.bind(socket) as AnyListen;
  const off = socket.off.bind(socket) as AnyListen;
  return new Promise((resolve, reject) => {
    const on = (arg: unknown) => {
      clearTimeout(timer);
      resolve(arg);
    };
    const timer = setTimeout(() => {
      off(event, on);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    once(event, on);
  });
}

/** Every `event` the socket receives from now on, in order. */
export function collect<E extends keyof ServerToClientEvents>(socket: ClientSocket, event: E): Payload<E>[] {
  const seen: Payload<E>[] = [];
  const on = socket.on.bind(socket) as AnyListen;
  on(event, (arg: Payload<E>) => seen.push(arg));
  return seen;
}

/** Resolves with the disconnect reason (at once if already disconnected). */
export function disconnected(socket: ClientSocket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    if (socket.disconnected && !socket.active) return resolve("already disconnected");
    const timer = setTimeout(() => reject(new Error(`still connected after ${timeoutMs} ms`)), timeoutMs);
    socket.once("disconnect", (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

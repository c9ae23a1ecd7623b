import type { ServerToClientEvents } from "../../shared/contract/events";
import type { ClientSocket } from "./socket-client";

/** Polls `condition` until it holds, failing after `timeoutMs` (no fixed sleeps in tests). */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

type Payload<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>[0];

/** Socket.IO types listeners per event name; with a generic event name it cannot pick the overload (as `ask` does for emit). */
type AnyListen = (event: string, listener: (arg: never) => void) => unknown;

/** The next `event` on the socket (its first argument), within `timeoutMs`. */
export function nextEvent<E extends keyof ServerToClientEvents>(socket: ClientSocket, event: E, timeoutMs = 5_000): Promise<Payload<E>> {
  const once = socket.once.bind(socket) as AnyListen;
  const off = socket.off.bind(socket) as AnyListen;
  return new Promise((resolve, reject) => {
    const on = (arg: Payload<E>) => {
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

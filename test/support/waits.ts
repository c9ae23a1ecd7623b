import type { ServerToClientEvents } from "../../shared/socket-events";
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

/** The next `event` on the socket (its first argument), within `timeoutMs`. */
export function nextEvent<E extends keyof ServerToClientEvents>(socket: ClientSocket, event: E, timeoutMs = 5_000): Promise<Payload<E>> {
  return new Promise((resolve, reject) => {
    const on = (arg: Payload<E>) => {
      clearTimeout(timer);
      resolve(arg);
    };
    const listener = on as ServerToClientEvents[E];
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(event, listener);
  });
}

/** Every `event` the socket receives from now on, in order. */
export function collect<E extends keyof ServerToClientEvents>(socket: ClientSocket, event: E): Payload<E>[] {
  const seen: Payload<E>[] = [];
  socket.on(event, ((arg: Payload<E>) => seen.push(arg)) as ServerToClientEvents[E]);
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

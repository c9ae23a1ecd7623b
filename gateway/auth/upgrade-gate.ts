import type { IncomingMessage } from "node:http";

/**
 * Holds a WebSocket upgrade for one turn of the event loop, then says whether its client is still
 * connected.
 *
 * Why: in a reconnect storm, connections wait in the kernel's accept queue longer than a client
 * waits for them (socket.io-client gives up after its `timeout`, 20 s by default, and tries again
 * on a new connection). The kernel keeps the abandoned connection queued with its request and the
 * client's FIN. Without this gate the gateway would upgrade it in full (the 101, an Engine.IO socket,
 * the open packet and its timers) only to read the close a turn later, so a survivor of a storm
 * spent most of its work on clients that had left (docs/scale.md, third session).
 *
 * The request is parsed in the turn that reads it, and the FIN behind it is read in the next
 * turn's poll phase. A setImmediate queued from the check phase runs in the next turn's check
 * phase, after that poll. So the second of two hops sees `readableEnded` (a FIN) or `destroyed`
 * (a reset). Only public Node APIs are used.
 *
 * A socket that closes later than that is not caught, and goes through the normal upgrade.
 */
export function whenStillConnected(req: IncomingMessage, then: (connected: boolean) => void): void {
  const socket = req.socket;
  // Node's HTTP server stops handling the socket's errors when it hands an upgrade over, and ws
  // starts only once it takes the socket: a reset meanwhile would be an unhandled 'error'.
  const ignore = () => {};
  socket.on("error", ignore);
  setImmediate(() =>
    setImmediate(() => {
      socket.off("error", ignore);
      then(!socket.readableEnded && !socket.destroyed);
    }),
  );
}

/** A WebSocket (or other protocol) upgrade request, as opposed to a polling request. */
export const isUpgrade = (req: IncomingMessage): boolean => req.headers.upgrade !== undefined;

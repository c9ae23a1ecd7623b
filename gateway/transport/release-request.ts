/**
 * Engine.IO keeps the HTTP request of a connection's handshake for the connection's whole life
 * (engine.io 6.6.13; see write-batching.ts for how this folder reaches past the public API):
 * - on the Engine.IO socket, as `request` (Socket.IO's memory guide sets it to null);
 * - for a WebSocket upgrade, also on the response object it makes for its middlewares
 *   (`WebSocketResponse`, whose `req` stays reachable through the listener it puts on the TCP
 *   socket's "close").
 * The gateway reads the request in the handshake only (the client's address, the Origin check);
 * `socket.handshake` keeps the headers and query. Released once the socket is connected, an idle
 * connection costs about 1 KiB less heap (docs/scale.md).
 */
import { type IncomingMessage, ServerResponse } from "node:http";
import type { GatewayIo, GatewaySocket } from "../socket/types";

/** What this file touches on an upgrade's response (Node's `ServerResponse.req`, mimicked). */
type UpgradeResponse = { req: IncomingMessage | null };

export class RequestRelease {
  /** Each WebSocket upgrade's response, by its request (gone with the request). */
  private readonly responses = new WeakMap<IncomingMessage, UpgradeResponse>();

  constructor(io: GatewayIo) {
    // An Engine.IO middleware (public API) is the one place the upgrade's response is handed out.
    io.engine.use((req: IncomingMessage, res: unknown, next: (err?: Error) => void) => {
      if (!(res instanceof ServerResponse)) this.responses.set(req, res as UpgradeResponse);
      next();
    });
  }

  /** Lets go of `socket`'s handshake request (after the handshake: nothing reads it later). */
  release(socket: GatewaySocket): void {
    const conn = socket.conn as unknown as { request: IncomingMessage | null };
    const req = conn.request;
    if (!req) return;
    const res = this.responses.get(req);
    if (res) res.req = null;
    conn.request = null;
  }
}

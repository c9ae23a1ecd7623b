/**
 * Engine.IO keeps the HTTP request of a connection's handshake for the connection's whole life
 * (engine.io 6.6.13; see write-batching.ts for how this folder reaches past the public API):
 * - on the Engine.IO socket, as `request` (Socket.IO's memory guide sets it to null);
 * - for a WebSocket upgrade, also on the response object it makes for its middlewares
 *   (`WebSocketResponse`, whose `req` stays reachable through the listener it puts on the TCP
 *   socket's "close").
 * The gateway reads the request in the handshake only (the client's address, the Origin check).
 * Released once the socket is connected, an idle connection costs about 1 KiB less heap
 * (docs/scale.md).
 *
 * `socket.handshake` (Socket.IO's copy of the headers, the query and `auth`) stays for whoever
 * inspects a socket, without what carries credentials: the token (`auth.token`, `?token=`,
 * `Authorization`) and the cookies. Nothing reads them after the handshake, a process's memory then
 * holds no token per socket, and an idle connection costs the token's length less (a browser's
 * cookies more).
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

  /** Lets go of `socket`'s handshake request and its handshake's credentials (after the handshake: nothing reads them later). */
  release(socket: GatewaySocket): void {
    forgetCredentials(socket.handshake);
    const conn = socket.conn as unknown as { request: IncomingMessage | null };
    const req = conn.request;
    if (!req) return;
    const res = this.responses.get(req);
    if (res) res.req = null;
    conn.request = null;
  }
}

/**
 * `handshake` without the token and the cookies. Copies, not `delete`: a deleted property turns
 * V8's object into a dictionary, which costs more memory than it frees.
 */
export function forgetCredentials(handshake: GatewaySocket["handshake"]): void {
  const { authorization: _authorization, cookie: _cookie, ...headers } = handshake.headers;
  const { token: _queryToken, ...query } = handshake.query;
  const { token: _authToken, ...auth } = handshake.auth;
  handshake.headers = headers;
  handshake.query = query;
  handshake.auth = auth;
  // The URL's query may carry ?token=: its path stays (the rest of the query is in `query`).
  const at = handshake.url.indexOf("?");
  if (at >= 0) handshake.url = handshake.url.slice(0, at);
}

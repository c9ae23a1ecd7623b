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
 * The response itself stays reachable through its listener on the TCP socket's "close" (it re-emits
 * it for middlewares such as pino-http; the gateway has none that listens). That listener is the
 * last one on the socket when the middlewares are called, right after the response is made; it is
 * taken off once the socket is connected, and the response (its emitter, the listener and its
 * closure: about 0.4 KiB) goes with it.
 *
 * `socket.handshake` (Socket.IO's copy of the headers, the query and `auth`) stays for whoever
 * inspects a socket, without what carries credentials: the token (`auth.token`, `?token=`,
 * `Authorization`) and the cookies. Nothing reads them after the handshake, a process's memory then
 * holds no token per socket, and an idle connection costs the token's length less (a browser's
 * cookies more). Nor does it keep the WebSocket upgrade's own headers (`Upgrade`, `Connection`,
 * `Sec-WebSocket-*`), which mean nothing once the connection is open, and its query's values are
 * copied out of the request's URL (a value of it is a slice that keeps the whole URL).
 */
import { type IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { GatewayIo, GatewaySocket } from "../socket/types";

/** What this file touches on an upgrade's response (Node's `ServerResponse.req`, mimicked; its TCP socket). */
type UpgradeResponse = { req: IncomingMessage | null; socket: Duplex };
/** A listener as `rawListeners` lists it: a `once` listener is a wrapper holding the function. */
type RawListener = ((...args: unknown[]) => void) & { listener?: unknown };

export class RequestRelease {
  /** Each WebSocket upgrade's response and its listener on the socket's "close", by its request (gone with the request). */
  private readonly responses = new WeakMap<IncomingMessage, { res: UpgradeResponse; onClose: RawListener | undefined }>();

  constructor(io: GatewayIo) {
    // An Engine.IO middleware (public API) is the one place the upgrade's response is handed out.
    io.engine.use((req: IncomingMessage, res: unknown, next: (err?: Error) => void) => {
      if (!(res instanceof ServerResponse)) {
        const upgrade = res as UpgradeResponse;
        // The response's own `once("close")`, added in its constructor: the socket's last listener now.
        const last = upgrade.socket.rawListeners("close").at(-1) as RawListener | undefined;
        this.responses.set(req, { res: upgrade, onClose: typeof last?.listener === "function" ? last : undefined });
      }
      next();
    });
  }

  /** Lets go of `socket`'s handshake request, its upgrade's response and its handshake's credentials (after the handshake: nothing reads them later). */
  release(socket: GatewaySocket): void {
    forgetCredentials(socket.handshake);
    const conn = socket.conn as unknown as { request: IncomingMessage | null };
    const req = conn.request;
    if (!req) return;
    const upgrade = this.responses.get(req);
    if (upgrade) {
      upgrade.res.req = null;
      if (upgrade.onClose) upgrade.res.socket.removeListener("close", upgrade.onClose);
    }
    conn.request = null;
  }
}

/** The WebSocket upgrade's own request headers (RFC 6455 §4.1), and the hop-by-hop pair that asks for it. */
const UPGRADE_HEADERS = new Set(["upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"]);

/** A copy that is a string of its own: a value sliced out of a longer string keeps all of it alive. */
const ownString = (value: string) => Buffer.from(value, "utf16le").toString("utf16le");

/**
 * `handshake` without the token and the cookies. Copies, not `delete`: a deleted property turns
 * V8's object into a dictionary, which costs more memory than it frees.
 */
export function forgetCredentials(handshake: GatewaySocket["handshake"]): void {
  const { authorization: _authorization, cookie: _cookie, ...rest } = handshake.headers;
  const headers: typeof rest = {};
  for (const [name, value] of Object.entries(rest)) if (!UPGRADE_HEADERS.has(name)) headers[name] = value;
  const { token: _queryToken, ...query } = handshake.query;
  for (const [name, value] of Object.entries(query)) if (typeof value === "string") query[name] = ownString(value);
  const { token: _authToken, ...auth } = handshake.auth;
  handshake.headers = headers;
  handshake.query = query;
  handshake.auth = auth;
  // The URL's query may carry ?token=: its path stays (the rest of the query is in `query`).
  const at = handshake.url.indexOf("?");
  if (at >= 0) handshake.url = handshake.url.slice(0, at);
}

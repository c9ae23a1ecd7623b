/**
 * The typed client of the chat cluster (docs/contract.md), for Node 20 and browsers (esbuild
 * bundles it as the IIFE `WsAuthClient`): typed HTTP calls that keep the access token fresh, and
 * sockets that stay authenticated, reconnect, re-join their chats and de-duplicate messages.
 *
 *   const client = WsAuthClient.createClient({ url: location.origin });
 *   await client.login({ username, password });
 *   const socket = client.connect();
 *   socket.on("message", show);
 *   socket.on("message:updated", showEdit);
 *   await socket.join(chatId);
 *   const m = await socket.send(chatId, "hello");
 *   await socket.react(chatId, m.id, "👍");
 */
import { httpCalls, wholeHistory } from "./api";
import { Emitter } from "./emitter";
import { ApiError } from "./errors";
import { createHttp } from "./http";
import { OwnReactions, Perspective } from "./reactions";
import { ChatSocketImpl } from "./socket";
import { TokenKeeper } from "./tokens";
import type { Client, ClientEvents, ClientOptions, EndReason } from "./types";

export { ApiError, SocketError, type SocketErrorCode } from "./errors";
export { compareIds } from "./chat-log";
export { newClientId } from "./client-id";
export type { ChatChangeEvent, ChatSocket, ChatSocketEvents, Client, ClientEvents, ClientOptions, EndReason, InvitePage, SocketStatus, StoredTokens, TokenStore } from "./types";

/**
 * A client of the origin `url`. Options: `fetch` (default globalThis.fetch), `refreshMarginMs`
 * (default min(30 s, a third of the token's lifetime)), `socket` (extra socket.io-client options),
 * `socketUrl` (the gateway, when not on `url`), `tokenStore` (one login shared with other clients,
 * such as a page's tabs; default none).
 */
export function createClient(options: ClientOptions): Client {
  const base = options.url.replace(/\/+$/, "");
  // Called through a wrapper: a browser's fetch throws when called on another `this` than window.
  const fetchFn: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const events = new Emitter<ClientEvents>();
  const sockets = new Set<ChatSocketImpl>();
  const endSockets = (reason: EndReason) => {
    for (const socket of [...sockets]) socket.end(reason);
  };

  const keeper: TokenKeeper = new TokenKeeper({
    ...(options.refreshMarginMs !== undefined ? { refreshMarginMs: options.refreshMarginMs } : {}),
    ...(options.tokenStore ? { store: options.tokenStore } : {}),
    refresh: (refreshToken) => calls.refreshRaw(refreshToken),
    onTokens: (tokens) => events.emit("tokens", tokens),
    onEnded: (reason) => {
      endSockets(reason);
      events.emit("ended", { reason });
    },
  });
  const http = createHttp(base, fetchFn, keeper, options.device);
  // The logged-in user's own reactions, as the HTTP answers and the sockets showed them.
  const reactions = new OwnReactions(() => keeper.tokens?.user.id);
  const calls = httpCalls(http, reactions);
  const perspective = new Perspective(reactions);

  /** Ends this client's own session on purpose: sockets first, so its revocation reads as a logout. */
  const endOwnSession = async (call: () => Promise<void>) => {
    endSockets("logged_out");
    try {
      await call();
    } catch (err) {
      // Already revoked or expired: it is over either way.
      if (!(err instanceof ApiError && err.status === 401)) throw err;
    } finally {
      keeper.clear("logged_out");
    }
  };

  /** Where a first join starts: null for an empty chat; undefined when the api cannot say (the join itself then decides, e.g. chat_forbidden). */
  const latestMessageId = async (chatId: string) => {
    try {
      return (await calls.chats.messages(chatId, { limit: 1 }))[0]?.id ?? null;
    } catch {
      return undefined;
    }
  };

  return {
    get user() {
      return keeper.tokens?.user ?? null;
    },
    get tokens() {
      return keeper.tokens;
    },
    get device() {
      return http.device;
    },
    restore: (tokens) => keeper.restore(tokens),
    register: calls.register,
    async login(body) {
      const result = await calls.loginRaw(body);
      keeper.set(result);
      return result;
    },
    refresh: () => keeper.refresh(),
    logout: () => endOwnSession(calls.logoutRaw),
    me: calls.me,
    changePassword: calls.changePassword,
    sessions: {
      list: calls.listSessions,
      // Revoking this client's own session is a logout.
      revoke: (id) => (id === keeper.tokens?.session_id ? endOwnSession(() => calls.revokeSession(id)) : calls.revokeSession(id)),
      revokeAll: () => endOwnSession(calls.revokeAllSessions),
    },
    chats: calls.chats,
    invites: calls.invites,
    blocks: calls.blocks,
    connect() {
      const socket: ChatSocketImpl = new ChatSocketImpl({
        url: options.socketUrl ?? base,
        options: options.socket ?? {},
        keeper,
        latestMessageId,
        history: (chatId) => wholeHistory(calls.chats, chatId),
        perspective,
        sessionEnded: (sessionId, reason) => {
          if (sessionId === undefined || sessionId === keeper.tokens?.session_id) keeper.clear(reason);
          socket.end(reason);
        },
        closed: (s) => sockets.delete(s),
      });
      sockets.add(socket);
      return socket;
    },
    on: (event, fn) => events.on(event, fn),
  };
}

/**
 * The typed client's public API. Every shape the servers send or take is the contract's
 * (shared/contract, imported as types only: the browser bundle must not pull zod or Node modules);
 * what is declared here is the client's own (options, its events, the token store).
 */
import type { ManagerOptions, Socket, SocketOptions } from "socket.io-client";
import type {
  Answer,
  BlockView,
  ChatDetail,
  ChatSummaryView,
  ChatView,
  InvitePage,
  InviteView,
  LoginResult,
  MessageView,
  PresenceView,
  ReportView,
  SessionView,
  UserView,
} from "../shared/contract/views";
import type { CreateChatBody, HistoryQuery, InvitesQuery, LoginBody, PasswordBody, PostMessageBody, RegisterBody, ReportsQuery, ResolveReportBody } from "../shared/contract/requests";
import type { ChatJoinPayload, ClientToServerEvents, ResultOf, ServerToClientEvents, SessionEndReason } from "../shared/contract/events";

export type { InvitePage };

export interface ClientOptions {
  /** The origin, e.g. "http://localhost:3000" (in a browser: `location.origin`). */
  url: string;
  /** Where the Socket.IO gateway is, when it is not on `url` (default `url`). */
  socketUrl?: string;
  /** Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Refresh the access token this long before it expires; default min(30 s, a third of its lifetime). */
  refreshMarginMs?: number;
  /**
   * Extra socket.io-client options (transports, reconnection delays, …); `path` and `auth` are the
   * client's. `timeout`, how long a connect attempt waits, defaults to 60 s here (socket.io-client's
   * own default is 20 s): after a gateway dies, its clients may queue at the others for longer.
   */
  socket?: Partial<ManagerOptions & SocketOptions>;
  /** One login shared with other clients (a page's tabs); default none: the app persists the `tokens` event's value. */
  tokenStore?: TokenStore;
  /**
   * The device value a previous login handed back (`client.device`), for clients that keep no
   * cookies (Node, mobile): sent back as `X-Device`, so a later login is judged by this device's own
   * failures and strangers guessing at the account cannot lock it out. Browsers get it as a cookie.
   */
  device?: string;
}

/** What an app persists to resume a login: the login answer's tokens and user (the demo keeps it in a TokenStore: client/pages/demo/login-store.ts). */
export type StoredTokens = Pick<LoginResult, "token" | "refresh_token" | "expires_at" | "session_id" | "user">;

/**
 * Where clients that share one login keep it, e.g. the tabs of a page. A refresh token is spent on
 * use and presenting it again revokes the session, and tabs that each refresh their own copy do just
 * that: with a store, every refresh and save takes its turn under `lock`, and a refresh starts from
 * what the store holds, so tokens another client rotated meanwhile are taken instead of refreshed again.
 * The app still resumes with `restore(await store.load())`.
 */
export interface TokenStore {
  /** The tokens last saved by any of the clients, null if none; it must see every save finished before the lock was granted. */
  load(): StoredTokens | null | Promise<StoredTokens | null>;
  /** Called under the lock: the tokens of a login or refresh, or null when the session is over. */
  save(tokens: StoredTokens | null): void | Promise<void>;
  /** Runs `fn` while no other client of the store runs one (in a browser, navigator.locks.request); not re-entered. */
  lock<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Optional: calls `fn` after another client saved. The client then loads the store and follows it:
   * newer tokens are taken, another login replaces this one, none ends it as "logged_out"; a login
   * taken while this client had none is announced by the `tokens` event.
   */
  subscribe?(fn: () => void): void;
}

/** Why a session ended: the server's `session:ended` reasons, or this client's own logout. */
export type EndReason = SessionEndReason | "logged_out";
export type SocketStatus = "connecting" | "connected" | "reconnecting" | "ended";

export interface ClientEvents {
  /** After login and every refresh (with a TokenStore, also tokens taken from it); null after logout or the end of the session. */
  tokens: (tokens: StoredTokens | null) => void;
  /** The session is over: show the login screen. */
  ended: (info: { reason: EndReason }) => void;
}

/**
 * Server events a ChatSocket passes on as they came. `chat:removed`: the user was removed from the
 * chat, and the socket forgot it (no re-join). `invite:new`, `invite:closed` and `chat:added`: the
 * user's live lists (join an added chat to receive its messages). `app:event`: the app's backend's
 * own events.
 */
export type RelayedEvent = "typing" | "presence:join" | "presence:leave" | "presence:count" | "chat:removed" | "invite:new" | "invite:closed" | "chat:added" | "app:event";

/**
 * What happened to messages after they were sent, passed on live and from the catch-up of every
 * re-join (its `changes`, after its missed messages), each one once: a change already delivered
 * (the same edit, deletion, reactions or read position) is not delivered again. Each is a state
 * to apply (the latest wins), not a step.
 * - `message:updated`: the message as it is now (show its text and `edited_at`; its reactions'
 *   `me` are corrected as `message:reactions`' are).
 * - `message:deleted`: show the message as a tombstone.
 * - `message:reactions`: the message's reactions now, their `me` the logged-in user's own: the
 *   live event's are the reacting user's, and the client corrects them from what it has seen of
 *   the user's reactions (its HTTP answers, its sockets' messages and events; a message it never
 *   saw counts as one the user did not react to). `user_id` is who reacted, or the user in a catch-up.
 * - `message:read`: a member's read position moved ("seen by"); the user's own too (read on
 *   another device), also for chats this socket has not joined (unread badges).
 */
export type ChatChangeEvent = "message:updated" | "message:deleted" | "message:reactions" | "message:read";

export type ChatSocketEvents = Pick<ServerToClientEvents, RelayedEvent | ChatChangeEvent> & {
  /** `message:new` and the catch-up after a (re)join, each id once, in id order per catch-up. */
  message: (m: MessageView) => void;
  status: (s: SocketStatus) => void;
  /** `session:ended`, or a refusal that ends the session; the socket does not reconnect. */
  ended: (info: { reason: EndReason }) => void;
  /** After an in-band `auth:refresh` was accepted: its answer. */
  refreshed: (info: ResultOf<"auth:refresh">) => void;
  /** Non-fatal problems (a failed re-join, a refused auth:refresh, …). */
  error: (err: Error) => void;
};

export interface ChatSocket {
  readonly connected: boolean;
  /** Addition: the last status event's value ("connecting" until the first connect). */
  readonly status: SocketStatus;
  /** The socket.io-client socket underneath. */
  readonly raw: Socket<ServerToClientEvents, ClientToServerEvents>;
  /**
   * `chat:join`; remembered and re-joined after every reconnect with the cursor of the last join
   * answer (`{after: last seen id}` while none is known), whose missed messages and changes are
   * delivered as the `message` and change events. A first join starts after the chat's newest
   * message (what came before is history: `client.chats.messages`), or `from.after` that id, or
   * catches up from `from.cursor` (one the app kept from `cursor(chatId)`, e.g. across a reload).
   * Joining a chat joined already changes nothing.
   */
  join(chatId: string, from?: Pick<ChatJoinPayload, "after" | "cursor">): Promise<void>;
  leave(chatId: string): Promise<void>;
  /** The cursor of the chat's last join answer (what the next re-join catches up from); undefined before one. */
  cursor(chatId: string): string | undefined;
  /** Waits until connected and the chat re-joined; retries with the same client_id across reconnects. */
  send(chatId: string, text: string, clientId?: string): Promise<MessageView>;
  /**
   * `chat:read`: the user's read position in the chat moves forward to `messageId` (never back);
   * answers where it stands now. The chat's members and the user's other sockets get `message:read`.
   * Like every call below, waits until connected with the chat joined and is asked again after a drop.
   */
  read(chatId: string, messageId: string): Promise<ResultOf<"chat:read">>;
  /** `message:edit`: the user's own message, within the edit window; answers the message as it is now (the room gets `message:updated`). */
  edit(chatId: string, messageId: string, text: string): Promise<MessageView>;
  /** `message:delete`: the user's own message, or any in a chat the user owns; a tombstone stays (the room gets `message:deleted`). */
  delete(chatId: string, messageId: string): Promise<void>;
  /** `message:react`: puts `emoji` on the message (`on`, the default) or takes it off; answers its reactions as the user sees them (the room gets `message:reactions`). */
  react(chatId: string, messageId: string, emoji: string, on?: boolean): Promise<ResultOf<"message:react">>;
  /** `chat:typing`; a rate_limited answer is ignored, and nothing is sent while offline. */
  typing(chatId: string): Promise<void>;
  presence(chatId: string): Promise<PresenceView>;
  on<K extends keyof ChatSocketEvents>(event: K, fn: ChatSocketEvents[K]): () => void;
  close(): void;
}

export interface Client {
  readonly user: UserView | null;
  readonly tokens: StoredTokens | null;
  /** The device value of the last successful login (persist it beside the tokens; see ClientOptions.device). */
  readonly device: string | null;
  restore(tokens: StoredTokens): void;
  register(body: RegisterBody): Promise<UserView>;
  login(body: LoginBody): Promise<LoginResult>;
  refresh(): Promise<LoginResult>;
  logout(): Promise<void>;
  me(): Promise<UserView>;
  changePassword(body: PasswordBody): Promise<void>;
  sessions: { list(): Promise<SessionView[]>; revoke(id: string): Promise<void>; revokeAll(): Promise<void> };
  chats: {
    /** Every chat of the user with its unread count, last message and the user's read position. */
    list(): Promise<ChatSummaryView[]>;
    create(body: CreateChatBody): Promise<ChatView>;
    get(id: string): Promise<ChatDetail>;
    invite(chatId: string, username: string): Promise<InviteView>;
    /** The chat's pending invites: one page, oldest first (default the first 50). */
    invites(chatId: string, query?: Partial<InvitesQuery>): Promise<InviteView[]>;
    /** The same page with `has_more`. */
    invitesPage(chatId: string, query?: Partial<InvitesQuery>): Promise<InvitePage>;
    removeMember(chatId: string, userId: string): Promise<void>;
    /** Newest first, unless `after` is given (then oldest first). */
    messages(chatId: string, query?: Partial<HistoryQuery>): Promise<MessageView[]>;
    post(chatId: string, body: PostMessageBody): Promise<MessageView>;
    presence(chatId: string): Promise<PresenceView>;
    /** `PUT /chats/:id/read`: the user's read position moves forward to `messageId` (never back); answers where it stands now. */
    markRead(chatId: string, messageId: string): Promise<Answer<"readPosition">>;
    /** `PATCH /chats/:id/messages/:mid`: the user's own message, within the edit window. */
    editMessage(chatId: string, messageId: string, text: string): Promise<MessageView>;
    /** `DELETE /chats/:id/messages/:mid`: the user's own message, or any in a chat the user owns (a tombstone stays). */
    deleteMessage(chatId: string, messageId: string): Promise<void>;
    /** `POST /chats/:id/messages/:mid/reactions`: `emoji` on (`on`, the default) or off; the message's reactions as the user sees them. */
    react(chatId: string, messageId: string, emoji: string, on?: boolean): Promise<Answer<"reactions">>;
    /** `POST /chats/:id/messages/:mid/report`: reports a message to the chat's owner (reporting it again answers the same report). */
    report(chatId: string, messageId: string, reason: string): Promise<ReportView>;
    /** `GET /chats/:id/reports` (the owner only): open ones by default. */
    reports(chatId: string, query?: Partial<ReportsQuery>): Promise<ReportView[]>;
    /** `POST /chats/:id/reports/:rid/resolve` (the owner only), with a note, deleting the message if `delete_message`. */
    resolveReport(chatId: string, reportId: string, body?: ResolveReportBody): Promise<ReportView>;
  };
  /** The users the user blocks: their messages, reactions, typing and invites no longer reach the user. */
  blocks: {
    list(): Promise<BlockView[]>;
    /** `PUT /me/blocks/:user_id` (blocking a user blocked already answers the same block). */
    block(userId: string): Promise<BlockView>;
    /** `DELETE /me/blocks/:user_id`. */
    unblock(userId: string): Promise<void>;
  };
  invites: {
    /** The caller's pending invites: one page, oldest first (default the first 50). */
    list(query?: Partial<InvitesQuery>): Promise<InviteView[]>;
    /** The same page with `has_more`. */
    page(query?: Partial<InvitesQuery>): Promise<InvitePage>;
    accept(id: string): Promise<ChatView>;
    decline(id: string): Promise<void>;
    withdraw(id: string): Promise<void>;
  };
  /** One socket per call, authenticated with the current access token. */
  connect(): ChatSocket;
  on<K extends keyof ClientEvents>(event: K, fn: ClientEvents[K]): () => void;
}

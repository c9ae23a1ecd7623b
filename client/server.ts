/**
 * The typed client of the server API (`/server/v1/…`, api/server-api/operations.ts), for the app's
 * own backend on Node 20: every call of the OPERATIONS table and `POST /server/v1/batch`, sent with
 * `Authorization: Bearer <server key>`. A non-2xx answer throws the user client's ApiError (status,
 * code, problem body); a network failure rejects with fetch's own error.
 *
 *   import { createServerClient } from "./client/server";
 *   const server = createServerClient({ url: "http://api:3000", key: process.env.SERVER_KEY! });
 *   await server.publishMessage(chatId, { text: "maintenance at noon", idempotency_key: "notice-1" });
 *
 * Not exported by client/index.ts: that is the browser bundle's entry, and a server key has no
 * business in a browser. Every shape comes from shared/contract (types only, so neither zod nor
 * any other module of the servers is loaded).
 */
import type { z } from "zod";
import type { appEventBody, banBody, batchCall, serverChatBody, serverMessageBody, ServerAnswer, serverSessionBody, upsertUserBody } from "../shared/contract/server";
import type { MemberView } from "../shared/contract/views";
import { toApiError } from "./http";

export { ApiError } from "./errors";

/** What the calls take: the contract's schemas' input types (defaults may be left out). */
export type ServerMessageInput = z.input<typeof serverMessageBody>;
export type AppEventInput = z.input<typeof appEventBody>;
export type UpsertUserInput = z.input<typeof upsertUserBody>;
export type ServerSessionInput = z.input<typeof serverSessionBody>;
export type BanInput = z.input<typeof banBody>;
export type ServerChatInput = z.input<typeof serverChatBody>;
/** One call of a batch: a server API path, with or without the /server/v1 prefix (`serverCalls` builds them). */
export type BatchCall = z.input<typeof batchCall>;

/** What the calls answer: the contract's answer views. */
export type ServerUser = ServerAnswer<"user">["user"];
export type ServerMessage = ServerAnswer<"message">["message"];
export type ServerLoginResult = ServerAnswer<"session">;
export type ServerChat = ServerAnswer<"chat">;
export type ChatPresence = ServerAnswer<"presence">;
export type UserPresence = ServerAnswer<"userPresence">;
export type ClusterStats = ServerAnswer<"stats">;
/** Per call, in order: its status and body (a problem body when it failed; none for 204). */
export type BatchResult = ServerAnswer<"batch">["results"][number];
export type { MemberView };

export interface ServerClientOptions {
  /** The api's origin, e.g. "http://api:3000" (the /server/v1 prefix is the client's). */
  url: string;
  /** A server key (`wsk_…`, from `npm run server-key`). */
  key: string;
  /** Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** A call that gets no answer in this long is aborted (its promise rejects with the abort); default 15 s. */
  timeoutMs?: number;
}

export interface ServerClient {
  /** Stores a message (from the system user, or the bot `sender`) and delivers it; `replayed`: a retry of an idempotency key already used, nothing delivered again. Scope publish. */
  publishMessage(chatId: string, body: ServerMessageInput): Promise<{ message: ServerMessage; replayed: boolean }>;
  /** `app:event {chat_id, event, data}` to the chat's sockets; not stored. Scope publish. */
  publishEvent(chatId: string, body: AppEventInput): Promise<void>;
  /** Creates (`created`) or updates the user the app knows as `externalId`. Scope moderate. */
  upsertUser(externalId: string, body: UpsertUserInput): Promise<{ user: ServerUser; created: boolean }>;
  /** A session for the user, answered like /login. Scope moderate. */
  createSession(userId: string, body?: ServerSessionInput): Promise<ServerLoginResult>;
  /** Revokes every session of the user; its sockets are disconnected. Scope moderate. */
  disconnectUser(userId: string): Promise<void>;
  /** Bans the user (until a time, or until lifted); every session ends. Scope moderate. */
  banUser(userId: string, body?: BanInput): Promise<ServerUser>;
  /** Lifts a ban. Scope moderate. */
  unbanUser(userId: string): Promise<ServerUser>;
  /** A chat with its members added at once. Scope moderate. */
  createChat(body: ServerChatInput): Promise<ServerChat>;
  /** Adds a member at once. Scope moderate. */
  addMember(chatId: string, userId: string): Promise<MemberView>;
  /** Removes a member; its sockets leave the room and get chat:removed. Scope moderate. */
  removeMember(chatId: string, userId: string): Promise<void>;
  /** Whether the user is connected, with how many sockets, in which chats. Scope read. */
  userPresence(userId: string): Promise<UserPresence>;
  /** The chat's users online anywhere in the cluster. Scope read. */
  chatPresence(chatId: string): Promise<ChatPresence>;
  /** Gateways, connections per gateway, chats online, messages per second. Scope read. */
  stats(): Promise<ClusterStats>;
  /**
   * Up to 100 calls run in order, each with the key's scopes; a failed call is a result (its
   * status and problem body), not a throw. Only the batch itself failing (401, 400, …) throws.
   */
  batch(calls: BatchCall[]): Promise<BatchResult[]>;
}

const id = encodeURIComponent;

/**
 * Each call of the server API as a batch call (method, path under /server/v1, body): what the
 * client's own methods send, and what `batch` takes, e.g.
 * `server.batch([serverCalls.publishMessage(chatId, { text }), serverCalls.stats()])`.
 */
export const serverCalls = {
  publishMessage: (chatId: string, body: ServerMessageInput) => call("POST", `/chats/${id(chatId)}/messages`, body),
  publishEvent: (chatId: string, body: AppEventInput) => call("POST", `/chats/${id(chatId)}/events`, body),
  upsertUser: (externalId: string, body: UpsertUserInput) => call("PUT", `/users/${id(externalId)}`, body),
  createSession: (userId: string, body?: ServerSessionInput) => call("POST", `/users/${id(userId)}/sessions`, body),
  disconnectUser: (userId: string) => call("POST", `/users/${id(userId)}/disconnect`),
  banUser: (userId: string, body?: BanInput) => call("PUT", `/users/${id(userId)}/ban`, body),
  unbanUser: (userId: string) => call("DELETE", `/users/${id(userId)}/ban`),
  createChat: (body: ServerChatInput) => call("POST", "/chats", body),
  addMember: (chatId: string, userId: string) => call("PUT", `/chats/${id(chatId)}/members/${id(userId)}`),
  removeMember: (chatId: string, userId: string) => call("DELETE", `/chats/${id(chatId)}/members/${id(userId)}`),
  userPresence: (userId: string) => call("GET", `/users/${id(userId)}/presence`),
  chatPresence: (chatId: string) => call("GET", `/chats/${id(chatId)}/presence`),
  stats: () => call("GET", "/stats"),
} satisfies { [K in keyof Omit<ServerClient, "batch">]: (...args: Parameters<ServerClient[K]>) => BatchCall };

function call(method: BatchCall["method"], path: string, body?: unknown): BatchCall {
  return body === undefined ? { method, path } : { method, path, body };
}

export const SERVER_API_PREFIX = "/server/v1";
const REQUEST_TIMEOUT_MS = 15_000;

/** A client of the server API on the api at `url`, calling with the server key `key`. */
export function createServerClient(options: ServerClientOptions): ServerClient {
  const base = options.url.replace(/\/+$/, "") + SERVER_API_PREFIX;
  const { key } = options;
  if (typeof key !== "string" || !key.startsWith("wsk_")) throw new TypeError("createServerClient: `key` must be a server key (wsk_…)");
  const fetchFn: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;

  /** Sends one call; a non-2xx answer throws ApiError. The answer's body (undefined for 204) and headers. */
  const send = async <T>({ method, path, body }: BatchCall): Promise<{ status: number; headers: Headers; body: T }> => {
    const headers: Record<string, string> = { accept: "application/json", authorization: `Bearer ${key}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const res = await fetchFn(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: abort.signal });
      if (!res.ok) throw await toApiError(res);
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
    } finally {
      clearTimeout(timer);
    }
  };
  const bodyOf = async <T>(c: BatchCall) => (await send<T>(c)).body;
  const nothing = async (c: BatchCall) => void (await send<undefined>(c));

  return {
    async publishMessage(chatId, body) {
      const res = await send<ServerAnswer<"message">>(serverCalls.publishMessage(chatId, body));
      return { message: res.body.message, replayed: res.headers.get("idempotent-replayed") === "true" };
    },
    publishEvent: (chatId, body) => nothing(serverCalls.publishEvent(chatId, body)),
    async upsertUser(externalId, body) {
      const res = await send<ServerAnswer<"user">>(serverCalls.upsertUser(externalId, body));
      return { user: res.body.user, created: res.status === 201 };
    },
    createSession: (userId, body) => bodyOf<ServerLoginResult>(serverCalls.createSession(userId, body)),
    disconnectUser: (userId) => nothing(serverCalls.disconnectUser(userId)),
    banUser: async (userId, body) => (await bodyOf<ServerAnswer<"user">>(serverCalls.banUser(userId, body))).user,
    unbanUser: async (userId) => (await bodyOf<ServerAnswer<"user">>(serverCalls.unbanUser(userId))).user,
    createChat: (body) => bodyOf<ServerChat>(serverCalls.createChat(body)),
    addMember: async (chatId, userId) => (await bodyOf<{ member: MemberView }>(serverCalls.addMember(chatId, userId))).member,
    removeMember: (chatId, userId) => nothing(serverCalls.removeMember(chatId, userId)),
    userPresence: (userId) => bodyOf<UserPresence>(serverCalls.userPresence(userId)),
    chatPresence: (chatId) => bodyOf<ChatPresence>(serverCalls.chatPresence(chatId)),
    stats: () => bodyOf<ClusterStats>(serverCalls.stats()),
    batch: async (calls) => (await bodyOf<ServerAnswer<"batch">>({ method: "POST", path: "/batch", body: { calls } })).results,
  };
}

import type { Answer, LoginResult, MessageView, SessionView } from "../shared/contract/views";
import type { HistoryQuery, InvitesQuery } from "../shared/contract/requests";
import type { Http } from "./http";
import type { Client } from "./types";

const id = encodeURIComponent;

function queryString(query: Partial<HistoryQuery | InvitesQuery> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The plain HTTP calls (accounts, sessions, chats, invites, messages): each unwraps its answer's envelope (`answers` in shared/contract/views.ts). */
export function httpCalls(http: Http): Pick<Client, "me" | "changePassword" | "chats" | "invites"> & {
  register: Client["register"];
  loginRaw: Client["login"];
  refreshRaw(refreshToken: string): Promise<LoginResult>;
  listSessions(): Promise<SessionView[]>;
  logoutRaw(): Promise<void>;
  revokeSession(id: string): Promise<void>;
  revokeAllSessions(): Promise<void>;
} {
  const { call, authed } = http;
  const chatInvites = (chatId: string, query?: Partial<InvitesQuery>) => authed<Answer<"invitePage">>("GET", `/chats/${id(chatId)}/invites${queryString(query)}`);
  const myInvites = (query?: Partial<InvitesQuery>) => authed<Answer<"invitePage">>("GET", `/invites${queryString(query)}`);
  return {
    register: async (body) => (await call<Answer<"user">>("POST", "/register", body)).user,
    loginRaw: (body) => call<Answer<"login">>("POST", "/login", body),
    refreshRaw: (refresh_token) => call<Answer<"login">>("POST", "/token/refresh", { refresh_token }),
    listSessions: async () => (await authed<Answer<"sessions">>("GET", "/sessions")).sessions,
    logoutRaw: () => authed<void>("POST", "/logout"),
    revokeSession: (sessionId) => authed<void>("DELETE", `/sessions/${id(sessionId)}`),
    revokeAllSessions: () => authed<void>("DELETE", "/sessions"),
    me: async () => (await authed<Answer<"user">>("GET", "/me")).user,
    changePassword: (body) => authed<void>("PUT", "/me/password", body),
    chats: {
      list: async () => (await authed<Answer<"chats">>("GET", "/chats")).chats,
      create: async (body) => (await authed<Answer<"chat">>("POST", "/chats", body)).chat,
      get: (chatId) => authed<Answer<"chatDetail">>("GET", `/chats/${id(chatId)}`),
      invite: async (chatId, username) => (await authed<Answer<"invite">>("POST", `/chats/${id(chatId)}/invites`, { username })).invite,
      invites: async (chatId, query) => (await chatInvites(chatId, query)).invites,
      invitesPage: chatInvites,
      removeMember: (chatId, userId) => authed<void>("DELETE", `/chats/${id(chatId)}/members/${id(userId)}`),
      messages: async (chatId, query) => (await authed<Answer<"messages">>("GET", `/chats/${id(chatId)}/messages${queryString(query)}`)).messages,
      post: async (chatId, body) => (await authed<Answer<"message">>("POST", `/chats/${id(chatId)}/messages`, body)).message,
      presence: (chatId) => authed<Answer<"presence">>("GET", `/chats/${id(chatId)}/presence`),
    },
    invites: {
      list: async (query) => (await myInvites(query)).invites,
      page: myInvites,
      accept: async (inviteId) => (await authed<Answer<"chat">>("POST", `/invites/${id(inviteId)}/accept`)).chat,
      decline: (inviteId) => authed<void>("POST", `/invites/${id(inviteId)}/decline`),
      withdraw: (inviteId) => authed<void>("DELETE", `/invites/${id(inviteId)}`),
    },
  };
}

/** A chat re-joined with no message seen yet reads it from the start, up to this many messages. */
const HISTORY_MAX = 1_000;

/** The chat's messages, oldest first: pages of 100 (newest first) walked back with `before`. */
export async function wholeHistory(chats: Pick<Client["chats"], "messages">, chatId: string): Promise<MessageView[]> {
  const all: MessageView[] = [];
  for (let before: string | undefined; all.length < HISTORY_MAX; ) {
    const page = await chats.messages(chatId, { limit: 100, ...(before ? { before } : {}) });
    all.push(...page);
    if (page.length < 100) break;
    before = page[page.length - 1]!.id;
  }
  return all.reverse();
}

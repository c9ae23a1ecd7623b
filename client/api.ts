import type { Answer, LoginResult, MessageView, SessionView } from "../shared/contract/views";
import type { HistoryQuery, InvitesQuery, ReportsQuery } from "../shared/contract/requests";
import type { Http } from "./http";
import type { OwnReactions } from "./reactions";
import type { Client } from "./types";

const id = encodeURIComponent;

function queryString(query: Partial<HistoryQuery | InvitesQuery | ReportsQuery> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * The plain HTTP calls (accounts, sessions, chats, invites, messages, blocks): each unwraps its
 * answer's envelope (`answers` in shared/contract/views.ts). Every message and reaction list they
 * answer carries the caller's own `me`: `reactions` learns it (the sockets correct live events with it).
 */
export function httpCalls(
  http: Http,
  reactions: OwnReactions,
): Pick<Client, "me" | "changePassword" | "chats" | "invites" | "blocks"> & {
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
  const messagePath = (chatId: string, messageId: string) => `/chats/${id(chatId)}/messages/${id(messageId)}`;
  const learned = <T extends MessageView | null>(m: T): T => {
    reactions.learnMessages([m]);
    return m;
  };
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
      list: async () => {
        const { chats } = await authed<Answer<"chats">>("GET", "/chats");
        reactions.learnMessages(chats.map((c) => c.last_message));
        return chats;
      },
      create: async (body) => (await authed<Answer<"chat">>("POST", "/chats", body)).chat,
      get: (chatId) => authed<Answer<"chatDetail">>("GET", `/chats/${id(chatId)}`),
      invite: async (chatId, username) => (await authed<Answer<"invite">>("POST", `/chats/${id(chatId)}/invites`, { username })).invite,
      invites: async (chatId, query) => (await chatInvites(chatId, query)).invites,
      invitesPage: chatInvites,
      removeMember: (chatId, userId) => authed<void>("DELETE", `/chats/${id(chatId)}/members/${id(userId)}`),
      messages: async (chatId, query) => {
        const { messages } = await authed<Answer<"messages">>("GET", `/chats/${id(chatId)}/messages${queryString(query)}`);
        reactions.learnMessages(messages);
        return messages;
      },
      post: async (chatId, body) => learned((await authed<Answer<"message">>("POST", `/chats/${id(chatId)}/messages`, body)).message),
      presence: (chatId) => authed<Answer<"presence">>("GET", `/chats/${id(chatId)}/presence`),
      markRead: (chatId, messageId) => authed<Answer<"readPosition">>("PUT", `/chats/${id(chatId)}/read`, { message_id: messageId }),
      editMessage: async (chatId, messageId, text) => learned((await authed<Answer<"message">>("PATCH", messagePath(chatId, messageId), { text })).message),
      deleteMessage: async (chatId, messageId) => {
        await authed<void>("DELETE", messagePath(chatId, messageId));
        reactions.forget(messageId);
      },
      react: async (chatId, messageId, emoji, on = true) => {
        const answer = await authed<Answer<"reactions">>("POST", `${messagePath(chatId, messageId)}/reactions`, { emoji, on });
        reactions.learn(answer.message_id, answer.reactions);
        return answer;
      },
      report: async (chatId, messageId, reason) => (await authed<Answer<"report">>("POST", `${messagePath(chatId, messageId)}/report`, { reason })).report,
      reports: async (chatId, query) => (await authed<Answer<"reports">>("GET", `/chats/${id(chatId)}/reports${queryString(query)}`)).reports,
      resolveReport: async (chatId, reportId, body = {}) => (await authed<Answer<"report">>("POST", `/chats/${id(chatId)}/reports/${id(reportId)}/resolve`, body)).report,
    },
    invites: {
      list: async (query) => (await myInvites(query)).invites,
      page: myInvites,
      accept: async (inviteId) => (await authed<Answer<"chat">>("POST", `/invites/${id(inviteId)}/accept`)).chat,
      decline: (inviteId) => authed<void>("POST", `/invites/${id(inviteId)}/decline`),
      withdraw: (inviteId) => authed<void>("DELETE", `/invites/${id(inviteId)}`),
    },
    blocks: {
      list: async () => (await authed<Answer<"blocks">>("GET", "/me/blocks")).blocks,
      block: async (userId) => (await authed<Answer<"block">>("PUT", `/me/blocks/${id(userId)}`)).block,
      unblock: (userId) => authed<void>("DELETE", `/me/blocks/${id(userId)}`),
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

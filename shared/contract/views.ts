/**
 * The shapes clients see, shared by the api, the gateway, the typed client and the documents:
 * each view is a zod schema (what /openapi.json and /asyncapi.json publish, and what the tests
 * check real responses against) and the TypeScript type inferred from it.
 */
import { z } from "zod";
import { dependencyChecks } from "./errors";
import { messageId } from "./validation";

/** Limits of the contract, in one place for api and gateway. */
export const LIMITS = {
  bodyBytes: 16 * 1024,
  messageText: 4000,
  clientId: 64,
  historyDefault: 50,
  historyMax: 100,
  chatName: 100,
  chatMembersOnCreate: 100,
  /** The most users a presence answer lists (its count is always whole). */
  presenceList: 1000,
} as const;

const id = z.string().meta({ format: "uuid" });
const time = z.string().meta({ format: "date-time" });

export const userView = z
  .object({
    id,
    username: z.string(),
    email: z.string().nullable().meta({ description: "Null only for an account the app's backend made without one (server API)" }),
    created_at: time,
  })
  .meta({ id: "User" });
export type UserView = z.infer<typeof userView>;

export const userRef = z.object({ id, username: z.string() }).meta({ id: "UserRef" });
export type UserRef = z.infer<typeof userRef>;

export const chatView = z.object({ id, name: z.string(), created_by: id, created_at: time }).meta({ id: "Chat" });
export type ChatView = z.infer<typeof chatView>;

export const memberView = z.object({ user_id: id, username: z.string(), role: z.enum(["owner", "member"]), joined_at: time }).meta({ id: "Member" });
export type MemberView = z.infer<typeof memberView>;

export const inviteView = z
  .object({
    id,
    chat: z.object({ id, name: z.string() }),
    inviter: userRef,
    /** The invited user. */
    user: userRef,
    created_at: time,
  })
  .meta({ id: "Invite" });
export type InviteView = z.infer<typeof inviteView>;

export const messageView = z
  .object({ id: messageId, chat_id: id, sender: userRef, text: z.string(), client_id: z.string().nullable(), created_at: time })
  .meta({ id: "Message" });
export type MessageView = z.infer<typeof messageView>;

export const sessionView = z
  .object({
    id,
    created_at: time,
    expires_at: time,
    last_seen_at: time,
    user_agent: z.string().nullable(),
    ip: z.string().nullable(),
    current: z.boolean().meta({ description: "The session of the token that asked" }),
  })
  .meta({ id: "Session" });
export type SessionView = z.infer<typeof sessionView>;

export const loginResult = z
  .object({
    token: z.string().meta({ description: "The access token (a JWT)" }),
    type: z.literal("Bearer"),
    expires_in: z.number().int().meta({ description: "Seconds until the access token expires" }),
    expires_at: time,
    refresh_token: z.string().meta({ description: "Spent by one /token/refresh; presenting it twice revokes the session" }),
    session_id: id,
    user: userView,
  })
  .meta({ id: "LoginResult" });
export type LoginResult = z.infer<typeof loginResult>;

export const chatDetail = z.object({ chat: chatView, members: z.array(memberView) }).meta({ id: "ChatDetail" });
export type ChatDetail = z.infer<typeof chatDetail>;

/** `GET /chats/:id/presence` and the `chat:presence` answer. */
export const presenceView = z
  .object({ chat_id: id, count: z.number().int().min(0), users: z.array(userRef).max(LIMITS.presenceList) })
  .meta({ id: "Presence", description: `Members online in the chat anywhere in the cluster, each user once, at most ${LIMITS.presenceList} listed` });
export type PresenceView = z.infer<typeof presenceView>;

/** `GET /invites` and `GET /chats/:id/invites`: one page, oldest first. */
export const invitePage = z.object({
  invites: z.array(inviteView).meta({ description: "Oldest first, at most `limit`" }),
  has_more: z.boolean().meta({ description: "More invites follow: ask again with `after` set to the last invite's id" }),
});
export type InvitePage = z.infer<typeof invitePage>;

export const jwkSetView = z
  .object({
    keys: z.array(
      z.object({
        kty: z.literal("EC"),
        crv: z.literal("P-256"),
        x: z.string(),
        y: z.string(),
        kid: z.string().meta({ description: "RFC 7638 thumbprint of the key; tokens name it in their header" }),
        alg: z.literal("ES256"),
        use: z.literal("sig"),
      }),
    ),
  })
  .meta({ id: "JwkSet", description: "The public keys access tokens are verified with (RFC 7517); never a secret" });
export type JwkSetView = z.infer<typeof jwkSetView>;

/**
 * The api's answer bodies: each view in the envelope it is sent in. /openapi.json documents them and
 * the typed client unwraps them; `Answer<"chats">` is `{ chats: ChatView[] }`.
 */
export const answers = {
  user: z.object({ user: userView }),
  login: loginResult,
  sessions: z.object({ sessions: z.array(sessionView) }),
  chat: z.object({ chat: chatView }),
  chats: z.object({ chats: z.array(chatView) }),
  chatDetail,
  invite: z.object({ invite: inviteView }),
  invitePage,
  message: z.object({ message: messageView }),
  messages: z.object({ messages: z.array(messageView) }),
  presence: presenceView,
  jwks: jwkSetView,
  /** `/healthz`. */
  health: z.object({ status: z.literal("ok") }),
  /** `/readyz` while every dependency answers (else 503 `unavailable`). */
  ready: z.object({ status: z.literal("ready"), checks: dependencyChecks }),
} as const;
export type Answer<K extends keyof typeof answers> = z.infer<(typeof answers)[K]>;

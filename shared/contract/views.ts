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
  /** `unread_count` counts up to this; this number means "this many or more". */
  unreadCap: 1000,
  /** Different emoji on one message, and emoji one user puts on one message. */
  reactionsPerMessage: 20,
  reactionsPerUser: 5,
  /** An emoji is one RGI emoji of at most this many UTF-8 bytes. */
  emojiBytes: 64,
  /** Changes in one catch-up answer (after merging repeats of the same change). */
  changesMax: 500,
  reportReason: 1000,
  /** Users one user may block. */
  blocksMax: 1000,
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

export const memberView = z
  .object({
    user_id: id,
    username: z.string(),
    role: z.enum(["owner", "member"]),
    joined_at: time,
    read_message_id: messageId.nullable().meta({ description: "The member's read position (the last message it read), null before any: \"seen by\"" }),
  })
  .meta({ id: "Member" });
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

/** A pending invite is no longer pending: its invitee's lists drop it (`invite:closed`). */
export const inviteClosedView = z
  .object({
    id,
    chat_id: id,
    status: z.enum(["accepted", "declined", "cancelled"]).meta({ description: "accepted or declined by the invitee (on any device), cancelled by its inviter, the chat's owner, or the inviter's leaving" }),
  })
  .meta({ id: "InviteClosed" });

/** One emoji on a message: how many put it there (leaving out users the viewer blocks) and whether the viewer did. */
export const reactionView = z.object({ emoji: z.string(), count: z.number().int().min(1), me: z.boolean() }).meta({ id: "Reaction" });
export type ReactionView = z.infer<typeof reactionView>;

export const messageView = z
  .object({
    id: messageId,
    chat_id: id,
    sender: userRef,
    text: z.string().meta({ description: "Empty once deleted" }),
    client_id: z.string().nullable(),
    created_at: time,
    edited_at: time.nullable().meta({ description: "When the text was last edited; null if never" }),
    deleted: z.boolean().meta({ description: "A tombstone: the message was deleted, its text is gone, its id and place stay" }),
    reactions: z.array(reactionView).meta({ description: "In the order first used; `me` is the viewer's own" }),
  })
  .meta({ id: "Message" });
export type MessageView = z.infer<typeof messageView>;

/** `GET /chats`: each chat with the caller's unread count, its last message and the caller's read position. */
export const chatSummaryView = chatView
  .extend({
    unread_count: z.number().int().min(0).max(LIMITS.unreadCap).meta({ description: `Messages of others after the caller's read position, counted up to ${LIMITS.unreadCap} (${LIMITS.unreadCap} means that many or more)` }),
    last_message: messageView.nullable(),
    read_message_id: messageId.nullable().meta({ description: "The caller's read position, null before any" }),
  })
  .meta({ id: "ChatSummary" });
export type ChatSummaryView = z.infer<typeof chatSummaryView>;

/** `message:deleted`, live and in a catch-up. */
export const messageDeletedView = z.object({ chat_id: id, message_id: messageId }).meta({ id: "MessageDeleted" });
/** `message:reactions`, live and in a catch-up. */
export const messageReactionsView = z
  .object({
    chat_id: id,
    message_id: messageId,
    reactions: z.array(reactionView).meta({ description: "Live: `me` is the reacting user's (`user_id`): other clients keep their own `me`. In a catch-up: the caller's" }),
    user_id: id.meta({ description: "Live: who reacted. In a catch-up: the caller" }),
  })
  .meta({ id: "MessageReactions" });
/** `message:read`, live and in a catch-up: a member's read position moved. */
export const messageReadView = z.object({ chat_id: id, user_id: id, message_id: messageId }).meta({ id: "MessageRead" });

/** One change in a catch-up: the type and payload of the live event it stands for. */
export const changeView = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("message:updated"), data: messageView }),
    z.object({ type: z.literal("message:deleted"), data: messageDeletedView }),
    z.object({ type: z.literal("message:reactions"), data: messageReactionsView }),
    z.object({ type: z.literal("message:read"), data: messageReadView }),
  ])
  .meta({ id: "Change" });
export type ChangeView = z.infer<typeof changeView>;

export const blockView = z.object({ user: userRef, created_at: time }).meta({ id: "Block" });
export type BlockView = z.infer<typeof blockView>;

export const reportView = z
  .object({
    id,
    chat_id: id,
    message_id: messageId,
    sender: userRef,
    text: z.string().meta({ description: "The message's text when it was reported" }),
    reporter: userRef,
    reason: z.string(),
    created_at: time,
    status: z.enum(["open", "resolved"]),
    resolved_at: time.nullable(),
    resolution: z.string().nullable(),
  })
  .meta({ id: "Report" });
export type ReportView = z.infer<typeof reportView>;

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
  chats: z.object({ chats: z.array(chatSummaryView) }),
  chatDetail,
  invite: z.object({ invite: inviteView }),
  invitePage,
  message: z.object({ message: messageView }),
  messages: z.object({ messages: z.array(messageView) }),
  readPosition: z.object({ chat_id: id, message_id: messageId.nullable().meta({ description: "The caller's read position now (never behind what it was); null in a chat with no message yet" }) }),
  reactions: z.object({ chat_id: id, message_id: messageId, reactions: z.array(reactionView) }),
  block: z.object({ block: blockView }),
  blocks: z.object({ blocks: z.array(blockView) }),
  report: z.object({ report: reportView }),
  reports: z.object({ reports: z.array(reportView) }),
  presence: presenceView,
  jwks: jwkSetView,
  /** `/healthz`. */
  health: z.object({ status: z.literal("ok") }),
  /** `/readyz` while every dependency answers (else 503 `unavailable`). */
  ready: z.object({ status: z.literal("ready"), checks: dependencyChecks }),
} as const;
export type Answer<K extends keyof typeof answers> = z.infer<(typeof answers)[K]>;

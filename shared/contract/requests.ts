/**
 * The HTTP request bodies and queries of the contract (accounts, sessions, chats): the api validates with
 * these schemas, /openapi.json is generated from them, and the typed client takes their input types.
 */
import { z } from "zod";
import { LIMITS } from "./views";
import { emoji, messageId, text, username, uuid } from "./validation";

const password = text(8, 128).meta({ description: "8 to 128 characters, zxcvbn score at least 3 with the username and email as inputs" });

export const registerBody = z
  .strictObject({
    username,
    email: z.email({ message: "must be a valid email address" }).max(254, "must be at most 254 characters"),
    password,
  })
  .meta({ id: "RegisterBody" });
export type RegisterBody = z.input<typeof registerBody>;

export const loginBody = z
  .strictObject({ username: text(1, 254).meta({ description: "The username or the email" }), password: text(1, 128) })
  .meta({ id: "LoginBody" });
export type LoginBody = z.input<typeof loginBody>;

export const refreshBody = z.strictObject({ refresh_token: text(1, 512) }).meta({ id: "RefreshBody" });
export type RefreshBody = z.input<typeof refreshBody>;

export const passwordBody = z.strictObject({ current_password: text(1, 128), new_password: password }).meta({ id: "PasswordBody" });
export type PasswordBody = z.input<typeof passwordBody>;

export const createChatBody = z
  .strictObject({
    name: text(1, LIMITS.chatName),
    members: z.array(username).max(LIMITS.chatMembersOnCreate).default([]).meta({ description: "Usernames to invite" }),
  })
  .meta({ id: "CreateChatBody" });
export type CreateChatBody = z.input<typeof createChatBody>;

export const inviteBody = z.strictObject({ username }).meta({ id: "InviteBody" });
export type InviteBody = z.input<typeof inviteBody>;

export const postMessageBody = z
  .strictObject({
    text: text(1, LIMITS.messageText),
    client_id: text(1, LIMITS.clientId).optional().meta({ description: "Idempotency key: a retry with the same id returns the stored message" }),
  })
  .meta({ id: "PostMessageBody" });
export type PostMessageBody = z.input<typeof postMessageBody>;

/** A page size in a query string: 1 to 100, default 50 (history and invite lists alike). */
const pageLimit = z
  .string()
  .regex(/^\d{1,3}$/, "must be a whole number from 1 to 100")
  .transform(Number)
  .pipe(z.number().min(1, "must be at least 1").max(LIMITS.historyMax, `must be at most ${LIMITS.historyMax}`))
  .default(LIMITS.historyDefault)
  .meta({ description: `1 to ${LIMITS.historyMax}, default ${LIMITS.historyDefault}` });

export const historyQuery = z.strictObject({
  before: messageId.optional(),
  after: messageId.optional().meta({ description: "Messages after this id, oldest first (otherwise newest first)" }),
  limit: pageLimit,
});
/** The parsed history query (what the database is asked); a client sends `Partial<HistoryQuery>`. */
export type HistoryQuery = z.output<typeof historyQuery>;

/** `GET /invites` and `GET /chats/:id/invites`: pages oldest first, each continuing after the last invite of the one before. */
export const invitesQuery = z.strictObject({
  after: uuid.optional().meta({ description: "The id of the last invite of the previous page (an invite of this list, answered since or not)" }),
  limit: pageLimit,
});
/** The parsed page query; a client sends `Partial<InvitesQuery>`. */
export type InvitesQuery = z.output<typeof invitesQuery>;

/** `PUT /chats/:id/read` and `chat:read`: the read position moves to this message (never back). */
export const readBody = z.strictObject({ message_id: messageId }).meta({ id: "ReadBody" });
export type ReadBody = z.input<typeof readBody>;

/** `PATCH /chats/:id/messages/:mid` and `message:edit`: the new text. */
export const editMessageBody = z.strictObject({ text: text(1, LIMITS.messageText) }).meta({ id: "EditMessageBody" });
export type EditMessageBody = z.input<typeof editMessageBody>;

/** `POST /chats/:id/messages/:mid/reactions` and `message:react`: put an emoji on (`on`, the default) or take it off. */
export const reactBody = z
  .strictObject({ emoji: emoji(LIMITS.emojiBytes), on: z.boolean().default(true).meta({ description: "true (default) adds the caller's reaction, false removes it" }) })
  .meta({ id: "ReactBody" });
export type ReactBody = z.input<typeof reactBody>;

/** `POST /chats/:id/messages/:mid/report`. */
export const reportBody = z.strictObject({ reason: text(1, LIMITS.reportReason) }).meta({ id: "ReportBody" });
export type ReportBody = z.input<typeof reportBody>;

/** Resolving a report: a note, and whether the reported message is deleted with it. */
export const resolveReportBody = z
  .strictObject({
    resolution: text(1, LIMITS.reportReason).optional().meta({ description: "What was done, for the record" }),
    delete_message: z.boolean().default(false).meta({ description: "Delete the reported message too (a tombstone, announced as message:deleted)" }),
  })
  .meta({ id: "ResolveReportBody" });
export type ResolveReportBody = z.input<typeof resolveReportBody>;

/** `GET /chats/:id/reports` (and the server API's list): open ones by default. */
export const reportsQuery = z.strictObject({
  status: z.enum(["open", "resolved", "all"]).default("open"),
  limit: pageLimit,
});
export type ReportsQuery = z.output<typeof reportsQuery>;

/**
 * What a webhook delivery carries, written once as zod schemas: /openapi.json's `webhooks` section
 * is generated from them (api/documents/openapi.ts) and test/integration/api/documents.test.ts
 * checks real deliveries against it. The producers are in shared/webhooks/events.ts, the CTE of
 * shared/db/messages.ts and the worker (api/webhooks/worker.ts), which completes message.created.
 */
import { z } from "zod";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "./server";
import { messageView, reportView } from "./views";
import { messageId } from "./validation";

const id = z.string().meta({ format: "uuid" });
const time = z.string().meta({ format: "date-time" });

/** The three Standard Webhooks headers every attempt carries. */
export const webhookHeaders = z.object({
  "webhook-id": z
    .string()
    .regex(/^evt_\d+$/)
    .meta({ description: "`evt_` and the event's id: the same on every retry and redelivery of the event, so receivers de-duplicate by it" }),
  "webhook-timestamp": z.string().regex(/^\d+$/).meta({ description: "When this attempt was signed, in Unix seconds (a retry has a later one); reject deliveries too far from your clock" }),
  "webhook-signature": z.string().meta({
    description: "`v1,` and the base64 HMAC-SHA256, keyed with the endpoint's secret (the bytes after `whsec_`, base64-decoded), of `{webhook-id}.{webhook-timestamp}.{body}`; verify with a Standard Webhooks library",
  }),
});

/** How deliveries of one endpoint are ordered: a chat's events in the order they happened, a user's likewise. */
export type WebhookOrder = "chat" | "user";

interface EventDoc {
  summary: string;
  data: z.ZodType;
  /** The key whose deliveries go out in order, one after another. */
  orderedBy: WebhookOrder;
}

/** Every event type, its data and its order key: adding a type to WEBHOOK_EVENT_TYPES without a line here fails the typecheck. */
export const WEBHOOK_EVENTS = {
  "message.created": {
    summary: "A message was stored (from a socket, the user API or the server API)",
    data: z.object({
      message: messageView.nullable().meta({ description: "The message as clients see it; null when it was deleted before the first attempt" }),
      offline_member_ids: z.array(id).meta({
        description: "The chat's members with no socket in the chat anywhere in the cluster (a member within presence's 10 s grace counts as online), as of the first attempt",
      }),
    }),
    orderedBy: "chat",
  },
  "message.updated": {
    summary: "A message's text was edited (by its sender, within the edit window)",
    data: z.object({ message: messageView.meta({ description: "The message as it was right after the edit (reactions counted for nobody in particular: `me` is false)" }) }),
    orderedBy: "chat",
  },
  "message.deleted": {
    summary: "A message was deleted (by its sender, the chat's owner, or a resolved report): it stays as a tombstone",
    data: z.object({ chat_id: id, message_id: messageId, deleted_by: id.meta({ description: "Who deleted it" }) }),
    orderedBy: "chat",
  },
  "member.added": {
    summary: "A user became a member of a chat: an accepted invite, a new chat's owner or members, the server API",
    data: z.object({ chat_id: id, user_id: id, role: z.enum(["owner", "member"]) }),
    orderedBy: "chat",
  },
  "member.removed": {
    summary: "A member left or was removed (the chat is gone with its last member)",
    data: z.object({ chat_id: id, user_id: id }),
    orderedBy: "chat",
  },
  "invite.created": {
    summary: "A new pending invite",
    data: z.object({ invite_id: id, chat_id: id, user_id: id.meta({ description: "The invited user" }), inviter_id: id }),
    orderedBy: "chat",
  },
  "user.online": {
    summary: "A user's first socket connected anywhere in the cluster (debounced by presence's 10 s grace)",
    data: z.object({ user_id: id }),
    orderedBy: "user",
  },
  "user.offline": {
    summary: "A user's last socket left and the 10 s grace passed without a new one",
    data: z.object({ user_id: id }),
    orderedBy: "user",
  },
  "session.revoked": {
    summary: "Sessions of a user ended before their time (a logout, a revocation, a password change, a ban, a disconnect, the session cap)",
    data: z.object({
      user_id: id,
      session_ids: z.array(id).min(1),
      reason: z.string().meta({
        description: "Why: logout, revoked_by_user, revoked_all, password_changed, refresh_token_reuse, session_limit, banned or disconnected_by_server (more may come)",
      }),
    }),
    orderedBy: "user",
  },
  "user.registered": {
    summary: "A new account: POST /register, or the first PUT /server/v1/users/{external_id} of an id",
    data: z.object({ user: z.object({ id, username: z.string(), external_id: z.string().nullable(), created_at: time }) }),
    orderedBy: "user",
  },
  "report.created": {
    summary: "A member reported a message (POST /chats/{id}/messages/{mid}/report); list and resolve reports through the server API",
    data: z.object({ report: reportView }),
    orderedBy: "chat",
  },
} as const satisfies Record<WebhookEventType, EventDoc>;

/** `MessageCreatedWebhook` for `message.created`: the component name of a type's payload. */
const componentName = (type: WebhookEventType) => `${type.replace(/(^|\.)(\w)/g, (_m, _dot: string, c: string) => c.toUpperCase())}Webhook`;

/** The body of a delivery of `type`: `{type, timestamp, data}`. */
const payload = (type: WebhookEventType) =>
  z
    .object({
      type: z.literal(type),
      timestamp: time.meta({ description: "When the event happened (the same on every attempt; the webhook-timestamp header is the attempt's)" }),
      data: WEBHOOK_EVENTS[type].data,
    })
    .meta({ id: componentName(type), description: WEBHOOK_EVENTS[type].summary });

/** Each type's delivery body, by type. */
export const webhookPayloads = Object.fromEntries(WEBHOOK_EVENT_TYPES.map((t) => [t, payload(t)])) as Record<WebhookEventType, ReturnType<typeof payload>>;

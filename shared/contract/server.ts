/**
 * The server API (`/server/v1/…`, for the app's own backend) written once as zod schemas: the
 * routes validate with them, /openapi.json is generated from them and the typed server client
 * (client/server.ts) takes its types from them.
 */
import { z } from "zod";
import { jsonDepth, text, USERNAME_RE, uuid } from "./validation";
import { chatView, LIMITS, loginResult, memberView, messageView, presenceView } from "./views";

export const SERVER_LIMITS = {
  /** A server API body (a batch of calls included). */
  bodyBytes: 256 * 1024,
  /** An app event's `data`, as JSON. */
  appEventBytes: 16 * 1024,
  /** An app event's `data`: how deeply it may nest (clients parse it; serialising a deeper one overflows the stack). */
  appEventDepth: 32,
  /** Calls in one batch. */
  batchCalls: 100,
  /** How long a message's idempotency key is remembered. */
  idempotencyHours: 24,
} as const;

const time = z.string().meta({ format: "date-time" });

/** Every webhook event type; an endpoint subscribes to some or all. */
export const WEBHOOK_EVENT_TYPES = [
  "message.created",
  "message.updated",
  "message.deleted",
  "member.added",
  "member.removed",
  "invite.created",
  "user.online",
  "user.offline",
  "session.revoked",
  "user.registered",
  "report.created",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const webhookEndpointBody = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).max(2048).meta({ description: "Where deliveries are POSTed; internal addresses are refused unless WEBHOOK_ALLOW_PRIVATE=on" }),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).max(WEBHOOK_EVENT_TYPES.length).default([]).meta({ description: "The types wanted; empty or absent: every type" }),
    description: text(1, 200).optional(),
  })
  .meta({ id: "WebhookEndpointBody" });

export const deliveriesQuery = z.strictObject({
  status: z.enum(["pending", "delivered", "dead"]).optional().meta({ description: "Only deliveries in this state (dead: the dead letters)" }),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

export const webhookEndpointView = z
  .object({
    id: z.string().meta({ format: "uuid" }),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    source: z.enum(["api", "env"]).meta({ description: "env: the WEBHOOK_URL endpoint (managed by the configuration, not deletable here)" }),
    created_at: time,
  })
  .meta({ id: "WebhookEndpoint" });

export const webhookDeliveryView = z
  .object({
    id: z.string(),
    webhook_id: z.string().meta({ description: "The webhook-id header: the event's id, the same on every attempt and redelivery" }),
    type: z.string(),
    status: z.enum(["pending", "delivered", "dead"]),
    attempts: z.number().int(),
    next_attempt_at: time.nullable(),
    last_status: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: time,
    finished_at: time.nullable(),
  })
  .meta({ id: "WebhookDelivery" });

/** The app's own id of a user: 1 to 128 characters of A-Z a-z 0-9 _ . : @ | -. */
export const externalId = z
  .string()
  .regex(/^[A-Za-z0-9_.:@|-]{1,128}$/, "must be 1 to 128 characters of A-Z a-z 0-9 _ . : @ | -")
  .meta({ description: "The app's own id of the user" });

/** A webhook delivery's id (a decimal string). */
export const deliveryId = z.string().regex(/^\d{1,18}$/).meta({ description: "A delivery's id" });

export const serverMessageBody = z
  .strictObject({
    text: text(1, LIMITS.messageText),
    sender: uuid.optional().meta({ description: "A user id (a bot the app made with PUT /server/v1/users/{external_id}); without it the system user sends" }),
    idempotency_key: text(1, 128).optional().meta({ description: `A retry with the same key within ${SERVER_LIMITS.idempotencyHours} h returns the same message and delivers nothing again` }),
  })
  .meta({ id: "ServerMessageBody" });

export const appEventBody = z
  .strictObject({
    event: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1 to 64 characters of A-Z a-z 0-9 _ . : -"),
    data: z
      .unknown()
      .refine((v) => jsonDepth(v, SERVER_LIMITS.appEventDepth) <= SERVER_LIMITS.appEventDepth, `must nest at most ${SERVER_LIMITS.appEventDepth} levels deep`)
      .meta({ description: `Any JSON, at most ${SERVER_LIMITS.appEventBytes / 1024} KiB and ${SERVER_LIMITS.appEventDepth} levels deep` }),
  })
  .meta({ id: "AppEventBody" });

export const upsertUserBody = z
  .strictObject({
    username: z.string().regex(USERNAME_RE, "must be 3 to 32 characters of A-Z a-z 0-9 _ . -"),
    email: z.email().max(254).optional(),
  })
  .meta({ id: "UpsertUserBody" });

export const serverSessionBody = z
  .strictObject({
    user_agent: text(1, 512).optional(),
    ttl: z.number().int().min(60).optional().meta({ description: "Session lifetime in seconds (at most SESSION_TTL, its default)" }),
  })
  .meta({ id: "ServerSessionBody" });

export const banBody = z
  .strictObject({
    until: z.iso.datetime({ offset: true }).optional().meta({ description: "When the ban ends; without it, until lifted" }),
    reason: text(1, 500).optional(),
  })
  .meta({ id: "BanBody" });

export const serverChatBody = z
  .strictObject({
    name: text(1, LIMITS.chatName),
    members: z.array(uuid).max(LIMITS.chatMembersOnCreate).default([]).meta({ description: "User ids, added as members at once (no invites)" }),
    owner: uuid.optional().meta({ description: "The owner's user id; without it the first member, or the system user" }),
  })
  .meta({ id: "ServerChatBody" });

export const batchCall = z.strictObject({
  method: z.enum(["GET", "POST", "PUT", "DELETE"]),
  path: z.string().min(1).max(512).meta({ description: "A server API path, with or without the /server/v1 prefix" }),
  body: z.unknown().optional(),
});
export const batchBody = z.strictObject({ calls: z.array(batchCall).min(1).max(SERVER_LIMITS.batchCalls) }).meta({ id: "BatchBody" });

export const serverUserView = z
  .object({
    id: z.string().meta({ format: "uuid" }),
    username: z.string(),
    email: z.string().nullable(),
    created_at: time,
    external_id: z.string().nullable(),
    banned_until: time.nullable().meta({ description: "While the ban holds: when it ends (a ban without an end shows 9999-12-31T00:00:00.000Z); null when not banned" }),
    banned: z.boolean(),
  })
  .meta({ id: "ServerUser" });

export const userPresenceView = z
  .object({
    user_id: z.string(),
    online: z.boolean(),
    sockets: z.number().int().min(0),
    chats: z.array(z.string()).meta({ description: "Chats the user's sockets are in, anywhere in the cluster" }),
    gateways_answered: z.number().int().min(0),
  })
  .meta({ id: "UserPresence" });

export const statsView = z
  .object({
    gateways: z.array(z.object({ id: z.string(), connections: z.number().int(), chats: z.number().int(), messages_per_second: z.number() })),
    connections: z.number().int(),
    chats_online: z.number().int().meta({ description: "Chats with someone online, summed over gateways (a chat open on two gateways counts twice)" }),
    messages_per_second: z.number(),
  })
  .meta({ id: "Stats" });

export const batchResult = z
  .object({ results: z.array(z.object({ status: z.number().int(), body: z.unknown().optional() })) })
  .meta({ id: "BatchResult" });

/** The server API's answer bodies. */
export const serverAnswers = {
  message: z.object({ message: messageView }),
  user: z.object({ user: serverUserView }),
  session: loginResult,
  chat: z.object({ chat: chatView, members: z.array(memberView) }),
  member: z.object({ member: memberView }),
  webhookCreated: z.object({ endpoint: webhookEndpointView, secret: z.string().meta({ description: "whsec_…: shown only now; verify deliveries with it (standardwebhooks)" }) }),
  webhooks: z.object({ endpoints: z.array(webhookEndpointView) }),
  deliveries: z.object({ deliveries: z.array(webhookDeliveryView) }),
  delivery: z.object({ delivery: webhookDeliveryView }),
  presence: presenceView,
  userPresence: userPresenceView,
  stats: statsView,
  batch: batchResult,
} as const;

export type ServerAnswer<K extends keyof typeof serverAnswers> = z.infer<(typeof serverAnswers)[K]>;

import { OpenApiGeneratorV31, OpenAPIRegistry, type RouteConfig } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import { answers, LIMITS } from "../../shared/contract/views";
import { problemView } from "../../shared/contract/errors";
import * as bodies from "../../shared/contract/requests";
import { batchBody, deliveryId, externalId, SERVER_LIMITS, serverAnswers, WEBHOOK_EVENT_TYPES } from "../../shared/contract/server";
import { WEBHOOK_EVENTS, webhookHeaders, webhookPayloads } from "../../shared/contract/webhooks";
import { uuid } from "../../shared/contract/validation";
import { OPERATIONS } from "../server-api/operations";
import { SERVER_PREFIX } from "../server-api/server.routes";

const json = (schema: z.ZodType, description: string) => ({ description, content: { "application/json": { schema } } });
const problem = (description: string) => ({ description, content: { "application/problem+json": { schema: problemView } } });
const noContent = { description: "Done" };

type Responses = RouteConfig["responses"];
const problems = (descriptions: Record<number, string>): Responses => Object.fromEntries(Object.entries(descriptions).map(([status, d]) => [status, problem(d)]));
/** The answers any call may get: a malformed body, a limit, an outage. */
const commonProblems: Record<number, string> = {
  400: "invalid_body: not JSON, wrong types or unknown fields (see `errors`)",
  413: `payload_too_large: over ${LIMITS.bodyBytes / 1024} KiB`,
  415: "unsupported_media_type: a body that is not application/json",
  429: "rate_limited, with Retry-After",
  503: "unavailable: a backing service is down or the server is overloaded, with Retry-After",
};
const common = problems(commonProblems);
const authed = problems({ ...commonProblems, 401: "unauthorized, token_expired or session_revoked: no valid access token" });
/** The answers any server API call may get: the common ones, with its own body limit and key check. */
const serverProblems: Record<number, string> = {
  ...commonProblems,
  400: "invalid_body: not JSON, wrong types or unknown fields, or a malformed `external_id` (see `errors`)",
  401: "unauthorized: no live server key (a missing, unknown or revoked key, or a user's access token)",
  413: `payload_too_large: over ${SERVER_LIMITS.bodyBytes / 1024} KiB`,
};

interface Route {
  method: RouteConfig["method"];
  path: string;
  summary: string;
  description?: string;
  tag: "accounts" | "sessions" | "chats" | "messages" | "invites" | "health" | "keys" | "server";
  /** Which credential the call needs: a user's access token, or a server key (with these scopes; none for batch). */
  auth?: boolean | { scopes: string[] };
  body?: z.ZodType;
  query?: z.ZodObject;
  responses: Responses;
}

const badPage = problem("invalid_body: a malformed `after` or `limit`, an unknown field, or an `after` that is no invite of this list");
const routes: Route[] = [
  { method: "post", path: "/register", tag: "accounts", summary: "Create an account", body: bodies.registerBody, responses: { 201: json(answers.user, "The new account"), 409: problem("username_taken or email_taken") } },
  { method: "get", path: "/me", tag: "accounts", auth: true, summary: "The caller's account", responses: { 200: json(answers.user, "The account") } },
  { method: "put", path: "/me/password", tag: "accounts", auth: true, summary: "Change the password; every other session is revoked", body: bodies.passwordBody, responses: { 204: noContent } },
  { method: "post", path: "/login", tag: "sessions", summary: "Log in: a new session with an access token and a refresh token; the device value comes back as the wsac_device cookie and the X-Device header (send it back in X-Device without cookies)", body: bodies.loginBody, responses: { 200: json(answers.login, "Logged in"), 401: problem("invalid_credentials (also while the account's allowance for strangers, or this device's, is used up)"), 403: problem("account_banned: the password is right but the account is banned (server API)") } },
  { method: "post", path: "/token/refresh", tag: "sessions", summary: "Spend a refresh token for a new access token and refresh token of the same session", body: bodies.refreshBody, responses: { 200: json(answers.login, "Refreshed"), 401: problem("session_revoked (a spent refresh token revokes the session) or unauthorized"), 403: problem("account_banned: the session's user is banned (server API)") } },
  { method: "post", path: "/logout", tag: "sessions", auth: true, summary: "Revoke the caller's session", responses: { 204: noContent } },
  { method: "get", path: "/sessions", tag: "sessions", auth: true, summary: "The caller's active sessions", responses: { 200: json(answers.sessions, "Active sessions") } },
  { method: "delete", path: "/sessions", tag: "sessions", auth: true, summary: "Revoke every session of the caller", responses: { 204: noContent } },
  { method: "delete", path: "/sessions/{id}", tag: "sessions", auth: true, summary: "Revoke one of the caller's sessions; its sockets end within a second", responses: { 204: noContent, 404: problem("not_found") } },
  {
    method: "post",
    path: "/chats",
    tag: "chats",
    auth: true,
    summary: "Create a chat (the caller owns it) and invite the listed users",
    body: bodies.createChatBody,
    responses: {
      201: json(answers.chat, "The chat"),
      409: problem("too_many_invites: a listed user holds the most pending invites allowed (named in `errors`); nothing was created"),
      429: problem("rate_limited, with Retry-After: the caller created the most chats, or sent the most invites (one per listed user), allowed per window"),
    },
  },
  { method: "get", path: "/chats", tag: "chats", auth: true, summary: "The chats the caller belongs to", responses: { 200: json(answers.chats, "Chats") } },
  { method: "get", path: "/chats/{id}", tag: "chats", auth: true, summary: "A chat and its members", responses: { 200: json(answers.chatDetail, "The chat"), 404: problem("not_found (also for non-members)") } },
  {
    method: "post",
    path: "/chats/{id}/invites",
    tag: "invites",
    auth: true,
    summary: "Invite a user (by any member); a user with a pending invite to the chat keeps that one",
    body: bodies.inviteBody,
    responses: {
      201: json(answers.invite, "The invite"),
      404: problem("not_found"),
      409: problem("already_member, or too_many_invites: the user holds the most pending invites allowed"),
      429: problem("rate_limited, with Retry-After: the caller sent the most invites allowed per window, or the user declined the caller's invite to this chat less than the cooldown ago"),
    },
  },
  { method: "get", path: "/chats/{id}/invites", tag: "invites", auth: true, summary: "The chat's pending invites, oldest first, a page at a time", query: bodies.invitesQuery, responses: { 200: json(answers.invitePage, "Invites"), 400: badPage, 404: problem("not_found") } },
  { method: "delete", path: "/chats/{id}/members/{user_id}", tag: "chats", auth: true, summary: "Remove a member (the owner removes anyone, a member itself); its sockets leave the room", responses: { 204: noContent, 403: problem("forbidden"), 404: problem("not_found") } },
  { method: "get", path: "/chats/{id}/messages", tag: "chats", auth: true, summary: "Stored messages, newest first (with `after`: oldest first)", query: bodies.historyQuery, responses: { 200: json(answers.messages, "Messages"), 404: problem("not_found") } },
  { method: "post", path: "/chats/{id}/messages", tag: "chats", auth: true, summary: "Store a message and deliver it to the chat's sockets", body: bodies.postMessageBody, responses: { 201: json(answers.message, "The stored message"), 404: problem("not_found") } },
  { method: "put", path: "/chats/{id}/read", tag: "chats", auth: true, summary: "Move the caller's read position forward to this message (never back); the room gets message:read", body: bodies.readBody, responses: { 200: json(answers.readPosition, "The read position now"), 404: problem("not_found") } },
  { method: "patch", path: "/chats/{id}/messages/{message_id}", tag: "messages", auth: true, summary: "Edit your message's text within the edit window (EDIT_WINDOW); the room gets message:updated", body: bodies.editMessageBody, responses: { 200: json(answers.message, "The message as it is now"), 403: problem("forbidden: not your message, or the edit window has passed"), 404: problem("not_found: no such chat or message, or it was deleted") } },
  { method: "delete", path: "/chats/{id}/messages/{message_id}", tag: "messages", auth: true, summary: "Delete a message (its sender or the chat's owner): a tombstone stays; the room gets message:deleted", responses: { 204: noContent, 403: problem("forbidden: neither its sender nor the chat's owner"), 404: problem("not_found") } },
  { method: "post", path: "/chats/{id}/messages/{message_id}/reactions", tag: "messages", auth: true, summary: `Put an emoji on a message or take it off (at most ${LIMITS.reactionsPerMessage} different emoji per message, ${LIMITS.reactionsPerUser} per user); the room gets message:reactions`, body: bodies.reactBody, responses: { 200: json(answers.reactions, "The message's reactions as the caller sees them"), 403: problem("forbidden: a bound on reactions"), 404: problem("not_found") } },
  { method: "post", path: "/chats/{id}/messages/{message_id}/report", tag: "messages", auth: true, summary: "Report a message to the chat's owner and the app's backend (report.created); reporting it again returns the first report (200)", body: bodies.reportBody, responses: { 201: json(answers.report, "The report"), 200: json(answers.report, "Reported before: that report"), 404: problem("not_found") } },
  { method: "get", path: "/chats/{id}/reports", tag: "messages", auth: true, summary: "The chat's reports, newest first (its owner only)", query: bodies.reportsQuery, responses: { 200: json(answers.reports, "Reports"), 403: problem("forbidden: only the owner"), 404: problem("not_found") } },
  { method: "post", path: "/chats/{id}/reports/{report_id}/resolve", tag: "messages", auth: true, summary: "Resolve a report (the chat's owner), deleting the message if asked", body: bodies.resolveReportBody, responses: { 200: json(answers.report, "The report, resolved"), 403: problem("forbidden: only the owner"), 404: problem("not_found") } },
  { method: "get", path: "/me/blocks", tag: "accounts", auth: true, summary: "The users the caller blocks", responses: { 200: json(answers.blocks, "Blocks") } },
  { method: "put", path: "/me/blocks/{user_id}", tag: "accounts", auth: true, summary: "Block a user: you no longer receive their messages, typing or reactions (live or in history), and they cannot invite you or add you to a chat", responses: { 200: json(answers.block, "The block"), 403: problem(`forbidden: at most ${LIMITS.blocksMax} blocks`), 404: problem("not_found: no such user") } },
  { method: "delete", path: "/me/blocks/{user_id}", tag: "accounts", auth: true, summary: "Unblock a user (going forward)", responses: { 204: noContent } },
  { method: "get", path: "/chats/{id}/presence", tag: "chats", auth: true, summary: `Members online in the chat anywhere in the cluster (at most ${LIMITS.presenceList} listed)`, responses: { 200: json(answers.presence, "Presence"), 404: problem("not_found") } },
  { method: "get", path: "/invites", tag: "invites", auth: true, summary: "The caller's pending invites, oldest first, a page at a time", query: bodies.invitesQuery, responses: { 200: json(answers.invitePage, "Invites"), 400: badPage } },
  { method: "post", path: "/invites/{id}/accept", tag: "invites", auth: true, summary: "Accept an invite: the caller becomes a member", responses: { 200: json(answers.chat, "The chat"), 404: problem("not_found") } },
  { method: "post", path: "/invites/{id}/decline", tag: "invites", auth: true, summary: "Decline an invite", responses: { 204: noContent, 404: problem("not_found") } },
  { method: "delete", path: "/invites/{id}", tag: "invites", auth: true, summary: "Withdraw an invite (its inviter or the chat's owner)", responses: { 204: noContent, 404: problem("not_found") } },
  { method: "get", path: "/.well-known/jwks.json", tag: "keys", summary: "The public keys (ES256) access tokens are verified with; gateways fetch them here", responses: { 200: json(answers.jwks, "A JWK Set") } },
  { method: "get", path: "/healthz", tag: "health", summary: "The process answers", responses: { 200: json(answers.health, "Alive") } },
  { method: "get", path: "/readyz", tag: "health", summary: "PostgreSQL (and Redis, when configured) answer", responses: { 200: json(answers.ready, "Ready"), 503: problem("unavailable: names what is down") } },
];

type ServerResponses = (typeof OPERATIONS)[number]["responses"];

/**
 * A server API call's answers: the server API's common problems (403 when the call needs a scope),
 * then its own. An answer with a schema is JSON; an error is a problem, its description joined
 * with the common one of the same status; 204 has no body.
 */
function serverResponses(own: ServerResponses, scope?: string): Responses {
  const general: Record<number, string> = { ...serverProblems };
  if (scope) general[403] = `forbidden: the key lacks the \`${scope}\` scope`;
  const out = problems(general);
  for (const [key, r] of Object.entries(own)) {
    const status = Number(key);
    if (r.schema) out[key] = json(r.schema, r.description);
    else if (status >= 400) out[key] = problem(general[status] ? `${r.description}; or ${general[status]}` : r.description);
    else if (status === 204) out[key] = { description: r.description };
    else out[key] = json(z.looseObject({}), r.description);
  }
  return out;
}

/** What every webhook's description says first: the body, the headers and how to verify them. */
const WEBHOOK_DELIVERY =
  "A POST of `{type, timestamp, data}` as JSON, signed as Standard Webhooks: verify the webhook-signature over webhook-id, webhook-timestamp and the raw body " +
  "with the endpoint's `whsec_` secret (e.g. `new Webhook(secret).verify(body, headers)` of the `standardwebhooks` package) before trusting it. " +
  "At least once: a retry or redelivery keeps its webhook-id, so de-duplicate by it.";

/** The server API (`/server/v1`), from its one table of calls, and the batch call that runs them. */
const serverApiRoutes: Route[] = [
  ...OPERATIONS.map((o): Route => ({
    method: o.method,
    path: SERVER_PREFIX + o.path,
    tag: "server",
    summary: o.summary,
    description: `Needs a server key with the \`${o.scope}\` scope.`,
    auth: { scopes: [o.scope] },
    ...(o.body ? { body: o.body } : {}),
    ...(o.query ? { query: o.query } : {}),
    responses: serverResponses(o.responses, o.scope),
  })),
  {
    method: "post",
    path: `${SERVER_PREFIX}/batch`,
    tag: "server",
    summary: `Run up to ${SERVER_LIMITS.batchCalls} server API calls in order, each as if made alone with this key (its own scope check); one failing does not stop the rest`,
    description: "Any live server key; each call needs its own scope. Paths may leave out the /server/v1 prefix. A call that is not a server API call answers 404 in its place.",
    auth: { scopes: [] },
    body: batchBody,
    responses: serverResponses({ 200: { description: "Each call's status and body, in the order of `calls`", schema: serverAnswers.batch } }),
  },
];

const allRoutes = [...routes, ...serverApiRoutes];

/** The path parameters a templated path names, as a zod object: `{external_id}` is the app's own id, any other a UUID. */
function pathParams(path: string): z.ZodObject | undefined {
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  if (names.length === 0) return undefined;
  return z.object(Object.fromEntries(names.map((n) => [n, n === "external_id" ? externalId : n === "delivery_id" ? deliveryId : uuid])));
}

/** The express paths of the documented routes (`/chats/:id`), for the test that compares them with the app's. */
export const documentedRoutes = allRoutes.map((r) => `${r.method.toUpperCase()} ${r.path.replace(/\{(\w+)\}/g, ":$1")}`);

/**
 * OpenAPI 3.1 of the HTTP API, generated from the zod schemas the routes validate with and the
 * views the services answer with (shared/contract/requests.ts, shared/contract/views.ts), and of
 * the server API from its table of calls (api/server-api/operations.ts, shared/contract/server.ts).
 */
export function openApiDocument(version: string): object {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  const serverKey = registry.registerComponent("securitySchemes", "serverKey", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "server key",
    description:
      "A server key, not a JWT: `wsk_` and 43 more characters, made with `npm run server-key -- create` and sent as `Authorization: Bearer <key>`. " +
      "Only /server/v1 takes it, and no access token works there. The scopes a call lists (publish, moderate, read) must be among the key's.",
  });
  // Server API calls carry their common answers already (serverResponses).
  const baseOf = (r: Route): Responses => (r.tag === "health" || r.tag === "keys" || r.tag === "server" ? {} : r.auth ? authed : common);
  for (const r of allRoutes) {
    const params = pathParams(r.path);
    registry.registerPath({
      method: r.method,
      path: r.path,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      ...(r.auth === true ? { security: [{ [bearer.name]: [] }] } : r.auth ? { security: [{ [serverKey.name]: r.auth.scopes }] } : {}),
      request: {
        ...(params ? { params } : {}),
        ...(r.query ? { query: r.query } : {}),
        // The routes read a missing body as `{}`: a body whose fields are all optional may be left out.
        ...(r.body ? { body: { required: !r.body.safeParse({}).success, content: { "application/json": { schema: r.body } } } } : {}),
      },
      responses: { ...baseOf(r), ...r.responses },
    });
  }
  for (const type of WEBHOOK_EVENT_TYPES) {
    const event = WEBHOOK_EVENTS[type];
    registry.registerWebhook({
      method: "post",
      path: type,
      summary: event.summary,
      description: `${WEBHOOK_DELIVERY} Delivered in order per ${event.orderedBy} (the ${event.orderedBy}'s events one after another, per endpoint).`,
      tags: ["webhooks"],
      request: { headers: webhookHeaders, body: { required: true, content: { "application/json": { schema: webhookPayloads[type] } } } },
      responses: {
        "2XX": { description: "Delivered: the event will not be sent again (unless redelivered through the server API)" },
        default: { description: "Any other answer (a 3xx too: redirects are not followed), or none within WEBHOOK_TIMEOUT: retried with back-off, then dead-lettered" },
      },
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "ws-auth-cluster HTTP API",
      version,
      description:
        "Accounts, sessions, chats, invites and messages, and under /server/v1 the server API for the app's own backend (server keys, not access tokens). " +
        "Errors are RFC 9457 problem details with a stable `code`. The Socket.IO events are in /asyncapi.json. " +
        "`webhooks` lists what the cluster POSTs to the endpoints registered with POST /server/v1/webhooks (or WEBHOOK_URL).",
    },
    servers: [{ url: "/" }],
    tags: [
      { name: "accounts" },
      { name: "sessions" },
      { name: "chats" },
      { name: "invites" },
      { name: "keys" },
      { name: "health" },
      { name: "server", description: "The server API: for the app's own backend, with a server key (`npm run server-key`)" },
      { name: "webhooks", description: "Events the cluster POSTs to the app's endpoints, signed as Standard Webhooks (standardwebhooks.com)" },
    ],
  });
}

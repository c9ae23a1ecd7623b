import type { z } from "zod";
import * as server from "../../shared/contract/server";
import { answers } from "../../shared/contract/views";
import type { ServerScope } from "../../shared/db/schema";
import * as svc from "./server.service";
import * as webhooks from "./webhooks.service";
import * as reports from "../moderation/reports.service";
import { reportsQuery, resolveReportBody } from "../../shared/contract/requests";

/** What a call answers: a status, a body, maybe headers. */
export interface Outcome {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One call of the server API: its route, scope and documentation, and what it does. */
export interface Operation {
  method: "get" | "post" | "put" | "delete";
  /** Under /server/v1, OpenAPI style: `{id}` is a UUID, `{external_id}` the app's own id. */
  path: string;
  scope: ServerScope;
  summary: string;
  body?: z.ZodType;
  /** The query string's schema (GET lists). */
  query?: z.ZodObject;
  /** Documented answers besides the common ones (401, 403, 413, 415, 429, 503). */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  run(deps: svc.ServerDeps, call: { params: Record<string, string>; body: never; query: never; ip: string | null }): Promise<Outcome>;
}

const op = <B extends z.ZodType | undefined, Q extends z.ZodObject | undefined = undefined>(
  o: Omit<Operation, "run" | "body" | "query"> & {
    body?: B;
    query?: Q;
    run(
      deps: svc.ServerDeps,
      call: { params: Record<string, string>; body: B extends z.ZodType ? z.output<B> : undefined; query: Q extends z.ZodObject ? z.output<Q> : undefined; ip: string | null },
    ): Promise<Outcome>;
  },
): Operation => o as unknown as Operation;

const noContent = { status: 204 } as const;
const notFound = (what: string) => ({ description: `not_found: ${what}` });
const userAnswer = (user: Parameters<typeof svc.serverUserView>[0]) => ({ user: svc.serverUserView(user) });

/**
 * Every call of the server API, once: the routes (server.routes.ts), the batch call and
 * /openapi.json (api/documents/openapi.ts) all read this table.
 */
export const OPERATIONS: Operation[] = [
  op({
    method: "post",
    path: "/chats/{id}/messages",
    scope: "publish",
    summary: "Store a message from a bot or the system user and deliver it to the chat's sockets; with an idempotency key, a retry within 24 h returns the same message (header Idempotent-Replayed: true) and delivers nothing",
    body: server.serverMessageBody,
    responses: { 201: { description: "The stored message", schema: server.serverAnswers.message }, 404: notFound("the chat, or the sender"), 409: { description: "idempotency_conflict: the key was used with another body" } },
    async run(deps, { params, body }) {
      const { message, replayed } = await svc.postServerMessage(deps, params.id!, body);
      const headers: Record<string, string> = replayed ? { "Idempotent-Replayed": "true" } : {};
      return { status: 201, body: { message }, headers };
    },
  }),
  op({
    method: "post",
    path: "/chats/{id}/events",
    scope: "publish",
    summary: "Send an app event to the chat's sockets (`app:event {chat_id, event, data}`); not stored",
    body: server.appEventBody,
    responses: { 204: { description: "Handed to every gateway" }, 404: notFound("the chat"), 413: { description: "payload_too_large: data over 16 KiB" } },
    async run(deps, { params, body }) {
      await svc.publishServerEvent(deps, params.id!, body);
      return noContent;
    },
  }),
  op({
    method: "put",
    path: "/users/{external_id}",
    scope: "moderate",
    summary: "Create or update the user the app knows by its own id (no password: sessions come from POST /server/v1/users/{id}/sessions)",
    body: server.upsertUserBody,
    responses: { 200: { description: "Updated", schema: server.serverAnswers.user }, 201: { description: "Created", schema: server.serverAnswers.user }, 409: { description: "username_taken or email_taken" } },
    async run(deps, { params, body }) {
      const { user, created } = await svc.upsertUser(deps, params.external_id!, body);
      return { status: created ? 201 : 200, body: userAnswer(user) };
    },
  }),
  op({
    method: "post",
    path: "/users/{id}/sessions",
    scope: "moderate",
    summary: "Open a session for a user, answered like /login: the app's backend logs its users in to the cluster",
    body: server.serverSessionBody,
    responses: { 200: { description: "A session", schema: answers.login }, 403: { description: "account_banned" }, 404: notFound("the user") },
    async run(deps, { params, body, ip }) {
      return { status: 200, body: await svc.openUserSession(deps, params.id!, body ?? {}, ip) };
    },
  }),
  op({
    method: "post",
    path: "/users/{id}/disconnect",
    scope: "moderate",
    summary: "Revoke every session of the user: every socket gets session:ended and is disconnected within a second",
    responses: { 204: { description: "Done" }, 404: notFound("the user") },
    async run(deps, { params }) {
      await svc.disconnectUser(deps, params.id!);
      return noContent;
    },
  }),
  op({
    method: "put",
    path: "/users/{id}/ban",
    scope: "moderate",
    summary: "Ban a user (until a time, or until lifted): every session ends; login, refresh, new sessions and handshakes get account_banned",
    body: server.banBody,
    responses: { 200: { description: "The user", schema: server.serverAnswers.user }, 404: notFound("the user") },
    async run(deps, { params, body }) {
      return { status: 200, body: userAnswer(await svc.banUser(deps, params.id!, body ?? {})) };
    },
  }),
  op({
    method: "delete",
    path: "/users/{id}/ban",
    scope: "moderate",
    summary: "Lift a ban (the sessions it ended stay ended)",
    responses: { 200: { description: "The user", schema: server.serverAnswers.user }, 404: notFound("the user") },
    async run(deps, { params }) {
      return { status: 200, body: userAnswer(await svc.unbanUser(deps, params.id!)) };
    },
  }),
  op({
    method: "get",
    path: "/users/{id}/presence",
    scope: "read",
    summary: "Whether the user is connected, with how many sockets, in which chats (every gateway answers for its own)",
    responses: { 200: { description: "Presence", schema: server.serverAnswers.userPresence }, 404: notFound("the user") },
    async run(deps, { params }) {
      return { status: 200, body: await svc.userPresence(deps, params.id!) };
    },
  }),
  op({
    method: "post",
    path: "/chats",
    scope: "moderate",
    summary: "Create a chat with members added at once (no invites)",
    body: server.serverChatBody,
    responses: { 201: { description: "The chat and its members", schema: server.serverAnswers.chat } },
    async run(deps, { body }) {
      return { status: 201, body: await svc.createServerChat(deps, body) };
    },
  }),
  op({
    method: "put",
    path: "/chats/{id}/members/{user_id}",
    scope: "moderate",
    summary: "Add a member at once; its sockets may join the room from now on",
    responses: { 201: { description: "The member", schema: server.serverAnswers.member }, 404: notFound("the chat or the user"), 409: { description: "already_member" } },
    async run(deps, { params }) {
      return { status: 201, body: { member: await svc.addServerMember(deps, params.id!, params.user_id!) } };
    },
  }),
  op({
    method: "delete",
    path: "/chats/{id}/members/{user_id}",
    scope: "moderate",
    summary: "Remove a member: its sockets leave the room on every gateway and get chat:removed",
    responses: { 204: { description: "Done" }, 404: notFound("the chat, or the user is no member") },
    async run(deps, { params }) {
      await svc.removeServerMember(deps, params.id!, params.user_id!);
      return noContent;
    },
  }),
  op({
    method: "get",
    path: "/chats/{id}/presence",
    scope: "read",
    summary: "The chat's users online anywhere in the cluster (as GET /chats/{id}/presence)",
    responses: { 200: { description: "Presence", schema: server.serverAnswers.presence }, 404: notFound("the chat") },
    async run(deps, { params }) {
      return { status: 200, body: await svc.serverChatPresence(deps, params.id!) };
    },
  }),
  op({
    method: "post",
    path: "/webhooks",
    scope: "moderate",
    summary: "Register a webhook endpoint: Standard Webhooks deliveries of the events wanted (all when none listed); the signing secret is answered once",
    body: server.webhookEndpointBody,
    responses: { 201: { description: "The endpoint and its secret (shown only now)", schema: server.serverAnswers.webhookCreated } },
    async run(deps, { body }) {
      return { status: 201, body: await webhooks.createWebhook(deps, body) };
    },
  }),
  op({
    method: "get",
    path: "/webhooks",
    scope: "read",
    summary: "The webhook endpoints (secrets are never shown again)",
    responses: { 200: { description: "Endpoints", schema: server.serverAnswers.webhooks } },
    async run(deps) {
      return { status: 200, body: { endpoints: await webhooks.listEndpoints(deps.db) } };
    },
  }),
  op({
    method: "delete",
    path: "/webhooks/{id}",
    scope: "moderate",
    summary: "Delete an endpoint with its delivery log (WEBHOOK_URL's endpoint belongs to the configuration: 404 here)",
    responses: { 204: { description: "Deleted" }, 404: notFound("the endpoint") },
    async run(deps, { params }) {
      await webhooks.deleteWebhook(deps, params.id!);
      return noContent;
    },
  }),
  op({
    method: "get",
    path: "/webhooks/{id}/deliveries",
    scope: "read",
    summary: "An endpoint's recent deliveries, newest first; status=dead lists its dead letters",
    query: server.deliveriesQuery,
    responses: { 200: { description: "Deliveries", schema: server.serverAnswers.deliveries }, 404: notFound("the endpoint") },
    async run(deps, { params, query }) {
      return { status: 200, body: { deliveries: await webhooks.deliveries(deps, params.id!, query) } };
    },
  }),
  op({
    method: "post",
    path: "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    scope: "moderate",
    summary: "Send a delivery again (a dead letter, or a delivered one), with the same webhook-id and a fresh retry window",
    responses: { 200: { description: "The delivery, pending again", schema: server.serverAnswers.delivery }, 404: notFound("the endpoint or the delivery") },
    async run(deps, { params }) {
      return { status: 200, body: { delivery: await webhooks.redeliverOne(deps, params.id!, params.delivery_id!) } };
    },
  }),
  op({
    method: "get",
    path: "/reports",
    scope: "read",
    summary: "Reports of messages in every chat, newest first (open ones unless status says otherwise)",
    query: reportsQuery,
    responses: { 200: { description: "Reports", schema: answers.reports } },
    async run(deps, { query }) {
      return { status: 200, body: { reports: await reports.listReports(deps.db, query) } };
    },
  }),
  op({
    method: "post",
    path: "/reports/{id}/resolve",
    scope: "moderate",
    summary: "Resolve a report, with a note; delete_message deletes the reported message too (announced as message:deleted)",
    body: resolveReportBody,
    responses: { 200: { description: "The report, resolved", schema: answers.report }, 404: notFound("the report") },
    async run(deps, { params, body }) {
      return { status: 200, body: { report: await reports.resolveReport(deps, params.id!, { resolution: body.resolution, deleteMessage: body.delete_message }) } };
    },
  }),
  op({
    method: "get",
    path: "/stats",
    scope: "read",
    summary: "Gateways, connections per gateway, chats with someone online, messages per second",
    responses: { 200: { description: "Stats", schema: server.serverAnswers.stats } },
    async run(deps) {
      return { status: 200, body: await svc.clusterStats(deps) };
    },
  }),
];

import { z } from "zod";
import { uuid } from "../contract/validation";
import { gatewayQuery } from "./queries";
import { chatView, inviteClosedView, inviteView, messageReadView } from "../contract/views";

/** Session ids per `session_revoked` event: small enough for every gateway to accept and parse quickly. */
export const REVOCATION_CHUNK = 1_000;

/**
 * What the api tells every gateway, defined once: the publisher builds events of this type and
 * every subscriber parses what arrives with this schema (a malformed event is dropped there).
 */
export const controlEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("session_revoked"), user_id: uuid, session_ids: z.array(uuid).min(1).max(REVOCATION_CHUNK), reason: z.literal("revoked") }),
  z.object({ type: z.literal("member_removed"), chat_id: uuid, user_id: uuid }),
  // An api replica started and publishes these key ids at /.well-known/jwks.json: gateways that
  // fetch the JWKS fetch it again if one is new to them (the event names ids, never keys).
  z.object({ type: z.literal("keys_published"), kids: z.array(z.string().min(1).max(64)).min(1).max(16) }),
  // Every socket of a user is told of a new invite, an invite no longer pending, or a new chat (the live lists).
  z.object({
    type: z.literal("user_notice"),
    user_id: uuid,
    notice: z.discriminatedUnion("event", [
      z.object({ event: z.literal("invite:new"), payload: inviteView }),
      z.object({ event: z.literal("invite:closed"), payload: inviteClosedView }),
      z.object({ event: z.literal("chat:added"), payload: chatView }),
      // The user's own read position moved: its sockets outside that chat's room learn it too (badges).
      z.object({ event: z.literal("message:read"), payload: messageReadView }),
    ]),
  }),
  // A user blocked (or unblocked) another: that user's sockets stop (or start) receiving what the other does.
  z.object({ type: z.literal("block_changed"), user_id: uuid, blocked_id: uuid, blocked: z.boolean() }),
  // The server API asks every gateway about its sockets (shared/control/queries.ts).
  z.object({ type: z.literal("gateway_query"), id: uuid, query: gatewayQuery }),
]);

export type ControlEvent = z.infer<typeof controlEvent>;

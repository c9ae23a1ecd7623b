import type { ServerPayload } from "../contract/events";
import type { MessageView } from "../contract/views";

/**
 * Where `message:new` goes out: anything with Socket.IO's `to(room).emit(…)`. A gateway's server
 * (its own sockets, and every other gateway's through the Redis adapter), its `io.local` (its own
 * sockets only: the outage replay), or, in a process with no sockets (an api replica), an emitter
 * that publishes to the adapter's channels (shared/delivery/outlets.ts).
 */
/** What goes out through an outlet: stored messages and their changes, and the app's own events (server API). */
export type OutletEvent = "message:new" | "app:event" | "message:updated" | "message:deleted" | "message:reactions" | "message:read";

/** A broadcast being aimed: Socket.IO's (and the emitter's) `to(room).except(room).emit(…)`. */
export interface OutletTarget {
  emit(event: OutletEvent, payload: ServerPayload<OutletEvent>): unknown;
  except(room: string): OutletTarget;
}

export interface MessageOutlet {
  to(room: string): OutletTarget;
}

/** The room of a chat's sockets (contract: a connected socket is in `chat:<chat id>` for each chat joined). */
export const chatRoom = (chatId: string) => `chat:${chatId}`;

/**
 * The room of the sockets of every user who blocks `userId`: what `userId` does in a chat (its
 * messages, typing, reactions, edits, reads) goes to the chat's room except this one, so a blocker
 * never receives it, on any gateway (each gateway applies the exception to its own sockets).
 */
export const mutedRoom = (userId: string) => `muted:${userId}`;

/**
 * The one route of a stored message to the sockets of its chat, whoever posted it (a socket, the
 * HTTP api, a replay after an outage): every `message:new` the servers send goes through here.
 * Store first, then publish: a message reaches nobody before it can be caught up on.
 */
export function publishMessage(outlet: MessageOutlet, message: MessageView): void {
  outlet.to(chatRoom(message.chat_id)).except(mutedRoom(message.sender.id)).emit("message:new", message);
}

/** A change of a stored message (or of a read position) by `actorId`, to its chat's room: committed first, like a message. */
export type ChangeEvent = "message:updated" | "message:deleted" | "message:reactions" | "message:read";

/** The route of every change's live event, the same outlet as messages; users who block the actor do not receive it. */
export function publishChange<E extends ChangeEvent>(outlet: MessageOutlet, chatId: string, actorId: string, event: E, payload: ServerPayload<E>): void {
  outlet.to(chatRoom(chatId)).except(mutedRoom(actorId)).emit(event, payload);
}

/**
 * The route of an app event (server API) to a chat's sockets: the same outlet as messages, so it
 * reaches every gateway the same way. Not stored: a socket that is not connected misses it.
 */
export function publishAppEvent(outlet: MessageOutlet, chatId: string, event: string, data: unknown): void {
  outlet.to(chatRoom(chatId)).emit("app:event", { chat_id: chatId, event, data });
}

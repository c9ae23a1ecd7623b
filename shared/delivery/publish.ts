import type { ServerPayload } from "../contract/events";
import type { MessageView } from "../contract/views";

/**
 * Where `message:new` goes out: anything with Socket.IO's `to(room).emit(…)`. A gateway's server
 * (its own sockets, and every other gateway's through the Redis adapter), its `io.local` (its own
 * sockets only: the outage replay), or, in a process with no sockets (an api replica), an emitter
 * that publishes to the adapter's channels (shared/delivery/outlets.ts).
 */
/** What goes out through an outlet: stored messages, and the app's own events (server API). */
export type OutletEvent = "message:new" | "app:event";

export interface MessageOutlet {
  to(room: string): { emit(event: OutletEvent, payload: ServerPayload<OutletEvent>): unknown };
}

/** The room of a chat's sockets (contract: a connected socket is in `chat:<chat id>` for each chat joined). */
export const chatRoom = (chatId: string) => `chat:${chatId}`;

/**
 * The one route of a stored message to the sockets of its chat, whoever posted it (a socket, the
 * HTTP api, a replay after an outage): every `message:new` the servers send goes through here.
 * Store first, then publish: a message reaches nobody before it can be caught up on.
 */
export function publishMessage(outlet: MessageOutlet, message: MessageView): void {
  outlet.to(chatRoom(message.chat_id)).emit("message:new", message);
}

/**
 * The route of an app event (server API) to a chat's sockets: the same outlet as messages, so it
 * reaches every gateway the same way. Not stored: a socket that is not connected misses it.
 */
export function publishAppEvent(outlet: MessageOutlet, chatId: string, event: string, data: unknown): void {
  outlet.to(chatRoom(chatId)).emit("app:event", { chat_id: chatId, event, data });
}

import type { MessageView } from "../contract/views";

/**
 * Where `message:new` goes out: anything with Socket.IO's `to(room).emit(…)`. A gateway's server
 * (its own sockets, and every other gateway's through the Redis adapter), its `io.local` (its own
 * sockets only: the outage replay), or, in a process with no sockets (an api replica), an emitter
 * that publishes to the adapter's channels (shared/delivery/outlets.ts).
 */
export interface MessageOutlet {
  to(room: string): { emit(event: "message:new", message: MessageView): unknown };
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

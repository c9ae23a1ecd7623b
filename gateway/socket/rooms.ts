import { chatRoom } from "../../shared/delivery/publish";
import type { GatewaySocket } from "./types";

/** A socket's rooms are the chats it joined (ids lower-cased by the schemas); users and sessions are LocalSockets' maps. */
export const rooms = {
  chat: chatRoom,
  /** The chat id a room name stands for, or undefined for any other room (a socket's own). */
  chatIdOf: (room: string): string | undefined => (room.startsWith("chat:") ? room.slice(5) : undefined),
};

/** The chat ids of a socket's chat rooms. */
export function chatsOf(socket: GatewaySocket): string[] {
  const chats: string[] = [];
  for (const room of socket.rooms) if (room.startsWith("chat:")) chats.push(room.slice(5));
  return chats;
}

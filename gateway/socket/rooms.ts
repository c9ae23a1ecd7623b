import type { GatewayServer, GatewaySocket } from "./types";

/** The rooms a socket is in: its user's, its session's, and one per chat it joined (ids lower-cased by the schemas). */
export const rooms = {
  user: (id: string) => `user:${id}`,
  session: (id: string) => `session:${id}`,
  chat: (id: string) => `chat:${id}`,
};

/** The chat ids of a socket's chat rooms. */
export function chatsOf(socket: GatewaySocket): string[] {
  const chats: string[] = [];
  for (const room of socket.rooms) if (room.startsWith("chat:")) chats.push(room.slice(5));
  return chats;
}

/** This gateway's own sockets in a room (never another instance's), copied so callers may disconnect them. */
export function localSocketsIn(io: GatewayServer, room: string): GatewaySocket[] {
  const ids = io.of("/").adapter.rooms.get(room);
  if (!ids) return [];
  const found: GatewaySocket[] = [];
  for (const id of ids) {
    const socket = io.of("/").sockets.get(id);
    if (socket) found.push(socket);
  }
  return found;
}

import type { Server, Socket } from "socket.io";
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from "../../shared/socket-events";

export type GatewayServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type GatewaySocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** The answer an event's acknowledgement callback receives. */
export type AckOf<E extends keyof ClientToServerEvents> = Parameters<Parameters<ClientToServerEvents[E]>[1]>[0];

export const rooms = {
  user: (id: string) => `user:${id}`,
  session: (id: string) => `session:${id}`,
  chat: (id: string) => `chat:${id}`,
};

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

import type { GatewaySocket } from "./types";

/**
 * This gateway's sockets by user and by session, for what only ever acts locally (a revocation
 * ends the session's sockets here, a removal takes the user's sockets out of a chat here). Plain
 * maps rather than Socket.IO rooms: with the sharded adapter every room costs a Redis channel
 * subscription per gateway, and these lookups never need one. Only chat rooms reach Redis.
 */
export class LocalSockets {
  private readonly byUser = new Map<string, Set<GatewaySocket>>();
  private readonly bySession = new Map<string, Set<GatewaySocket>>();

  add(socket: GatewaySocket): void {
    put(this.byUser, socket.data.userId, socket);
    put(this.bySession, socket.data.sessionId, socket);
  }

  remove(socket: GatewaySocket): void {
    drop(this.byUser, socket.data.userId, socket);
    drop(this.bySession, socket.data.sessionId, socket);
  }

  /** Copies, so callers may disconnect what they get. */
  ofUser(userId: string): GatewaySocket[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  ofSession(sessionId: string): GatewaySocket[] {
    return [...(this.bySession.get(sessionId) ?? [])];
  }

  sizes(): Record<string, number> {
    return { users: this.byUser.size, sessions: this.bySession.size };
  }
}

function put(map: Map<string, Set<GatewaySocket>>, key: string, socket: GatewaySocket): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(socket);
}

function drop(map: Map<string, Set<GatewaySocket>>, key: string, socket: GatewaySocket): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(socket);
  if (set.size === 0) map.delete(key);
}

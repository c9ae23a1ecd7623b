import type { GatewaySocket } from "./types";

/** One socket (the usual case: one per user, one per session), or the set of them. */
type Slot = GatewaySocket | Set<GatewaySocket>;

/**
 * This gateway's sockets by user and by session, for what only ever acts locally (a revocation
 * ends the session's sockets here, a removal takes the user's sockets out of a chat here). Plain
 * maps rather than Socket.IO rooms: with the sharded adapter every room costs a Redis channel
 * subscription per gateway, and these lookups never need one. Only chat rooms reach Redis.
 */
export class LocalSockets {
  // A key's one socket is held as is, not in a Set of one: two Sets per connection were a measurable
  // part of its heap (the bench row "heap per idle connection"; docs/benchmark-notes.md, "Memory").
  private readonly byUser = new Map<string, Slot>();
  private readonly bySession = new Map<string, Slot>();

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
    return list(this.byUser.get(userId));
  }

  ofSession(sessionId: string): GatewaySocket[] {
    return list(this.bySession.get(sessionId));
  }

  sizes(): Record<string, number> {
    return { users: this.byUser.size, sessions: this.bySession.size };
  }
}

const list = (slot: Slot | undefined): GatewaySocket[] => (slot === undefined ? [] : slot instanceof Set ? [...slot] : [slot]);

function put(map: Map<string, Slot>, key: string, socket: GatewaySocket): void {
  const slot = map.get(key);
  if (slot === undefined) map.set(key, socket);
  else if (slot instanceof Set) slot.add(socket);
  else if (slot !== socket) map.set(key, new Set([slot, socket]));
}

function drop(map: Map<string, Slot>, key: string, socket: GatewaySocket): void {
  const slot = map.get(key);
  if (slot === socket) map.delete(key);
  else if (slot instanceof Set) {
    slot.delete(socket);
    if (slot.size === 1) map.set(key, slot.values().next().value as GatewaySocket);
    else if (slot.size === 0) map.delete(key);
  }
}

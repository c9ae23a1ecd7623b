import { sql } from "kysely";
import type { ControlEvent } from "../../shared/control/events";
import type { Db } from "../../shared/db/db";
import type { LocalSockets } from "../socket/local-sockets";
import { chatsOf, rooms } from "../socket/rooms";
import type { GatewaySocket } from "../socket/types";
import { RecentKeys } from "../control/recent-keys";

/** (chat, user) pairs per re-check query (two arrays of parameters: no parameter limit applies). */
const BATCH = 5_000;

/**
 * Takes this gateway's sockets out of the chats their user no longer belongs to: a control event
 * from the api, a failed check on send, or the re-check after the bus link was cut.
 */
export class Membership {
  /** Memberships removed lately: a join that passed its check just before can undo itself. */
  private readonly recent = new RecentKeys();

  constructor(private readonly local: LocalSockets) {}

  removeFromChat(socket: GatewaySocket, chatId: string): void {
    void socket.leave(rooms.chat(chatId));
    socket.emit("chat:removed", { chat_id: chatId });
  }

  apply(event: Extract<ControlEvent, { type: "member_removed" }>): void {
    this.recent.add(`${event.chat_id}:${event.user_id}`);
    for (const socket of this.local.ofUser(event.user_id)) this.removeFromChat(socket, event.chat_id);
  }

  removedMeanwhile(chatId: string, userId: string): boolean {
    return this.recent.has(`${chatId}:${userId}`);
  }

  /**
   * Reads the memberships behind every local socket's chat rooms and removes the lost ones: one
   * query per BATCH (chat, user) pairs, each pair asked once however many sockets share it.
   */
  async recheck(db: Db, sockets: readonly GatewaySocket[]): Promise<{ removed: number }> {
    const pairs = new Map<string, [string, string]>();
    for (const socket of sockets) for (const chatId of chatsOf(socket)) pairs.set(`${chatId}:${socket.data.userId}`, [chatId, socket.data.userId]);
    const asked = [...pairs.values()];
    const members = new Set<string>();
    for (let i = 0; i < asked.length; i += BATCH) {
      const batch = asked.slice(i, i + BATCH);
      const { rows } = await sql<{ chat_id: string; user_id: string }>`
        select m.chat_id, m.user_id
        from unnest(${batch.map((p) => p[0])}::uuid[], ${batch.map((p) => p[1])}::uuid[]) as p(chat_id, user_id)
        join chat_members m on m.chat_id = p.chat_id and m.user_id = p.user_id`.execute(db);
      for (const row of rows) members.add(`${row.chat_id}:${row.user_id}`);
    }
    let removed = 0;
    for (const socket of sockets) {
      for (const chatId of chatsOf(socket)) {
        if (members.has(`${chatId}:${socket.data.userId}`)) continue;
        this.removeFromChat(socket, chatId);
        removed += 1;
      }
    }
    return { removed };
  }

  get size(): number {
    return this.recent.size;
  }

  clear(): void {
    this.recent.clear();
  }
}

import type { ControlEvent } from "../../shared/control/events";
import type { Db } from "../../shared/db/db";
import type { LocalSockets } from "../socket/local-sockets";
import { chatsOf, rooms } from "../socket/rooms";
import type { GatewayServer, GatewaySocket } from "../socket/types";
import { RecentKeys } from "./recent-keys";

/** Rows per `in (…)` list when re-checking, well under PostgreSQL's parameter limit. */
const BATCH = 1_000;

/**
 * Takes this gateway's sockets out of the chats their user no longer belongs to: a control event
 * from the api, a failed check on send, or the re-check after the bus link was cut.
 */
export class Membership {
  /** Memberships removed lately: a join that passed its check just before can undo itself. */
  private readonly recent = new RecentKeys();

  constructor(
    private readonly io: GatewayServer,
    private readonly local: LocalSockets,
  ) {}

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

  /** Reads the memberships behind every local socket's chat rooms in batched queries and removes the lost ones. */
  async recheck(db: Db): Promise<{ removed: number }> {
    const sockets = [...this.io.of("/").sockets.values()];
    const chats = [...new Set(sockets.flatMap(chatsOf))];
    const users = [...new Set(sockets.map((s) => s.data.userId))];
    const members = new Set<string>();
    for (let i = 0; i < chats.length; i += BATCH) {
      for (let j = 0; j < users.length; j += BATCH) {
        const rows = await db
          .selectFrom("chat_members")
          .select(["chat_id", "user_id"])
          .where("chat_id", "in", chats.slice(i, i + BATCH))
          .where("user_id", "in", users.slice(j, j + BATCH))
          .execute();
        for (const row of rows) members.add(`${row.chat_id}:${row.user_id}`);
      }
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

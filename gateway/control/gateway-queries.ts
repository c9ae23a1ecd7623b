import type { Logger } from "pino";
import type { Counter } from "prom-client";
import type { GatewayQuery, GatewayReply, QueryReplies } from "../../shared/control/queries";
import type { LocalSockets } from "../socket/local-sockets";
import { chatsOf, rooms } from "../socket/rooms";
import type { GatewayIo } from "../socket/types";

const WINDOW_S = 10;

/**
 * Answers the server API's questions about this gateway's own sockets (shared/control/queries.ts):
 * a user's sockets and the chats they are in, or this gateway's connections, chats and message rate.
 */
export class GatewayQueries {
  /** The messages counter's total at each of the last WINDOW_S + 1 seconds (a ring). */
  private readonly totals: number[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly options: { gateway: string; io: GatewayIo; local: LocalSockets; replies: QueryReplies; messages: Counter<"source">; logger: Logger },
  ) {
    this.timer = setInterval(() => void this.sample(), 1_000);
    this.timer.unref();
    void this.sample();
  }

  private async total(): Promise<number> {
    return (await this.options.messages.get()).values.reduce((sum, v) => sum + v.value, 0);
  }

  private async sample(): Promise<void> {
    this.totals.push(await this.total());
    if (this.totals.length > WINDOW_S + 1) this.totals.shift();
  }

  /** Messages stored from this gateway's sockets per second, over the last 10 s (less just after start). */
  private async rate(): Promise<number> {
    const first = this.totals[0];
    if (first === undefined || this.totals.length < 2) return 0;
    return Math.round(((await this.total()) - first) / (this.totals.length - 1) * 100) / 100;
  }

  async answer(queryId: string, query: GatewayQuery): Promise<void> {
    const { io, local } = this.options;
    const reply: GatewayReply = { gateway: this.options.gateway, sockets: 0, chats: [], connections: 0, chat_count: 0, messages_per_second: 0 };
    if (query.kind === "user") {
      const sockets = local.ofUser(query.user_id);
      reply.sockets = sockets.length;
      reply.chats = [...new Set(sockets.flatMap(chatsOf))];
    } else {
      reply.connections = io.of("/").sockets.size;
      let chats = 0;
      for (const room of io.of("/").adapter.rooms.keys()) if (rooms.chatIdOf(room) !== undefined) chats += 1;
      reply.chat_count = chats;
      reply.messages_per_second = await this.rate();
    }
    await this.options.replies.put(queryId, reply).catch((err: Error) => this.options.logger.warn({ err: err.message }, "answering a server API query failed"));
  }

  close(): void {
    clearInterval(this.timer);
  }
}

import type { Logger } from "pino";
import type { Db } from "../../shared/db/db";
import { messagesSince } from "../../shared/db/messages";
import { rooms } from "../socket/rooms";
import type { GatewayIo } from "../socket/types";

export interface OutageReplayOptions {
  /** Messages stored this long before the cut was noticed are replayed too (clock skew, in-flight publishes). Default 1 s. */
  marginMs?: number;
  /** At most this many messages are replayed after one outage; older ones are left to `chat:join {after}`. Default 1000. */
  max?: number;
}

/**
 * Ids kept to tell which messages this gateway's sockets already got (socket sends, api messages,
 * other gateways' broadcasts; with one Redis every gateway hears every room's messages).
 */
const RECENT_IDS = 5_000;
const BATCH = 1_000;

/**
 * Redis cut this gateway off (its adapter subscriber or its control-bus subscriber): messages
 * stored meanwhile by other gateways or the api never reached its sockets. When every link is
 * back, the messages of its local rooms stored since the cut are read from PostgreSQL and
 * delivered, skipping those it delivered itself; an api message it replayed is not relayed again
 * when the api's publish, held while the api's Redis was away, comes after. Every `message:new`
 * that reaches the adapter here counts as delivered, another gateway's too: a subscriber link that
 * only flapped (a cluster node's error on a busy machine) replays nothing its sockets already got.
 * At least once: a message whose id left the ring (older than its last RECENT_IDS) may arrive twice.
 */
export class OutageReplay {
  private readonly links = new Map<string, boolean>();
  private since: number | undefined;
  private readonly recent = new Set<string>();
  /** The same ids in arrival order, a ring: the oldest is evicted without walking the set (a Set's head after many deletions is slow to find). */
  private readonly ring = new Array<string | undefined>(RECENT_IDS);
  private next = 0;
  private readonly log: Logger;
  private readonly marginMs: number;
  private readonly max: number;

  constructor(
    private readonly io: GatewayIo,
    private readonly db: Db,
    logger: Logger,
    options: OutageReplayOptions = {},
  ) {
    this.log = logger.child({ module: "gateway:replay" });
    this.marginMs = options.marginMs ?? 1_000;
    this.max = options.max ?? 1_000;
    this.watchBroadcasts();
  }

  /**
   * Marks each `message:new` the adapter sends to this gateway's sockets, whoever broadcast it. The
   * adapters (the classic and the sharded one) hand a broadcast received from Redis to the base
   * adapter's `broadcast`, which encodes it once for all the room's sockets here (`_encode`): the
   * one place both paths meet, ours and the remote one.
   */
  private watchBroadcasts(): void {
    type Encode = (packet: { data?: unknown }, opts: unknown) => unknown;
    const adapter = this.io.of("/").adapter as unknown as { _encode?: Encode };
    const encode = adapter._encode;
    if (typeof encode !== "function") {
      this.log.warn("the adapter has no _encode: messages this gateway's sockets already got may be replayed after a Redis outage");
      return;
    }
    adapter._encode = (packet, opts) => {
      const data = packet.data;
      if (Array.isArray(data) && data[0] === "message:new") {
        const id = (data[1] as { id?: unknown } | undefined)?.id;
        if (typeof id === "string") this.delivered(id);
      }
      return encode.call(adapter, packet, opts);
    };
  }

  sizes(): Record<string, number> {
    return { replayRecentIds: this.recent.size };
  }

  /** A message this gateway delivers to its own sockets: false when it was delivered already (then it must not go again). */
  delivered(id: string): boolean {
    if (this.recent.has(id)) return false;
    const oldest = this.ring[this.next];
    if (oldest !== undefined) this.recent.delete(oldest);
    this.ring[this.next] = id;
    this.next = (this.next + 1) % RECENT_IDS;
    this.recent.add(id);
    return true;
  }

  /** A Redis link this gateway listens on went down or came back. */
  link(name: string, up: boolean): void {
    this.links.set(name, up);
    if (!up) {
      this.since ??= Date.now();
      return;
    }
    if (this.since === undefined || [...this.links.values()].some((v) => !v)) return;
    const since = this.since;
    this.since = undefined;
    this.replay(since).catch((err: Error) => this.log.warn({ err: err.message }, "replay after the Redis outage failed; clients catch up with chat:join {after}"));
  }

  private async replay(since: number): Promise<void> {
    const chats: string[] = [];
    for (const room of this.io.of("/").adapter.rooms.keys()) if (room.startsWith("chat:")) chats.push(room.slice(5));
    const from = new Date(since - this.marginMs);
    let replayed = 0;
    for (let i = 0; i < chats.length && replayed < this.max; i += BATCH) {
      const batch = await messagesSince(this.db, chats.slice(i, i + BATCH), from, this.max - replayed);
      for (const message of batch) {
        if (!this.delivered(message.id)) continue;
        this.io.local.to(rooms.chat(message.chat_id)).emit("message:new", message);
        replayed += 1;
      }
    }
    if (replayed > 0) this.log.info({ replayed, since: new Date(since).toISOString() }, "delivered messages missed during the Redis outage");
  }
}

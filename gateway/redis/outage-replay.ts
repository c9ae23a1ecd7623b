import type { Logger } from "pino";
import type { Db } from "../../shared/db/db";
import { messagesSince } from "../../shared/db/messages";
import { changesSince } from "../../shared/db/changes";
import type { ServerPayload } from "../../shared/contract/events";
import { type MessageOutlet, type OutletEvent, type OutletTarget, publishChange, publishMessage } from "../../shared/delivery/publish";
import { rooms } from "../socket/rooms";
import type { GatewayIo } from "../socket/types";

export interface OutageReplayOptions {
  /** Messages stored this long before the cut was noticed are replayed too (clock skew, in-flight publishes). Default 1 s. */
  marginMs?: number;
  /** At most this many messages are replayed after one outage; older ones are left to `chat:join {after}`. Default 1000. */
  max?: number;
}

/** Ids of the messages this gateway published itself, kept to leave them out of a replay. */
const RECENT_IDS = 5_000;
const BATCH = 1_000;

/**
 * Redis cut this gateway off (its adapter subscriber or its control-bus subscriber): messages
 * stored meanwhile by other gateways or the api never reached its sockets. When every link is
 * back, the messages of its local rooms stored since the cut are read from PostgreSQL and
 * published again to its own sockets (`io.local`, through publishMessage like every message),
 * leaving out those this gateway published itself (its sockets had them live: see `outlet`), and
 * then the changes made meanwhile (edits, deletions, reactions, read moves), merged and rendered as
 * things are now, so applying them twice is harmless.
 * At least once: a message another gateway delivered here in the margin before the cut may arrive
 * twice, and clients de-duplicate by id (the typed client does, in client/chat-log.ts).
 */
export class OutageReplay {
  private readonly links = new Map<string, boolean>();
  private since: number | undefined;
  private readonly published = new Set<string>();
  /** The same ids in the order published, a ring: the oldest is evicted without walking the set. */
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
  }

  /**
   * The gateway's outlet (`io`), noting each message published through it: a message this
   * gateway's own sockets sent during an outage reached its local sockets live, and is not
   * replayed to them.
   */
  outlet(): MessageOutlet {
    const target = (room$: ReturnType<GatewayIo["to"]>): OutletTarget => ({
      emit: (event: OutletEvent, payload: ServerPayload<OutletEvent>) => {
        // Only messages are noted: the replay sends messages, and a change reaches a socket that
        // missed it through its next catch-up.
        if (event === "message:new" && "sender" in payload) this.note(payload.id);
        return room$.emit(event, payload as never);
      },
      except: (room) => target(room$.except(room)),
    });
    return { to: (room) => target(this.io.to(room)) };
  }

  sizes(): Record<string, number> {
    return { replayRecentIds: this.published.size };
  }

  private note(id: string): void {
    if (this.published.has(id)) return;
    const oldest = this.ring[this.next];
    if (oldest !== undefined) this.published.delete(oldest);
    this.ring[this.next] = id;
    this.next = (this.next + 1) % RECENT_IDS;
    this.published.add(id);
  }

  /** A Redis link this gateway listens on went down (why, when known) or came back. */
  link(name: string, up: boolean, cause?: string): void {
    this.links.set(name, up);
    if (!up) {
      if (this.since === undefined) this.log.warn({ link: name, cause }, "a Redis link is down: what its rooms miss meanwhile is replayed when it is back");
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
    for (const room of this.io.of("/").adapter.rooms.keys()) {
      const chatId = rooms.chatIdOf(room);
      if (chatId) chats.push(chatId);
    }
    const from = new Date(since - this.marginMs);
    let replayed = 0;
    for (let i = 0; i < chats.length && replayed < this.max; i += BATCH) {
      const batch = await messagesSince(this.db, chats.slice(i, i + BATCH), from, this.max - replayed);
      for (const message of batch) {
        if (this.published.has(message.id)) continue;
        publishMessage(this.io.local, message);
        replayed += 1;
      }
    }
    // Then the edits, deletions, reactions and read moves made meanwhile (each once, as things are now).
    let changes = 0;
    for (let i = 0; i < chats.length && changes < this.max; i += BATCH) {
      for (const { chatId, actorId, change } of await changesSince(this.db, chats.slice(i, i + BATCH), from, this.max - changes)) {
        publishChange(this.io.local, chatId, actorId, change.type, change.data);
        changes += 1;
      }
    }
    if (replayed > 0 || changes > 0) this.log.info({ replayed, changes, since: new Date(since).toISOString() }, "delivered messages and changes missed during the Redis outage");
  }
}

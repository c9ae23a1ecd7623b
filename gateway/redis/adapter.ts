import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import type { Logger } from "pino";
import { CHANNEL_PREFIX, guarded } from "../../shared/delivery/channels";
import type { Cluster, RedisClient } from "../../shared/redis/clients";

/** The adapter's two connections, made and closed by the composition root. */
export type AdapterClients =
  | {
      /** One Redis: the classic adapter (PUBLISH/PSUBSCRIBE). */
      sharded: false;
      /** Publishes broadcasts; no offline queue, so a broadcast during an outage fails fast. */
      pub: RedisClient;
      /** A dedicated subscriber connection, with an offline queue so its subscriptions wait for the first connection. */
      sub: RedisClient;
    }
  | {
      /** A Redis Cluster: the sharded adapter (SPUBLISH/SSUBSCRIBE, one channel per chat room). */
      sharded: true;
      pub: Cluster;
      /** A Cluster client with `shardedSubscribers`: ioredis re-subscribes when a slot moves or a master fails over. */
      sub: Cluster;
    };

/** The sharded adapter's channel for a room of the default namespace (its own naming). */
export const roomChannel = (room: string) => `${CHANNEL_PREFIX}#/#${room}#`;

/** How long a join waits for Redis to confirm its room's sharded subscription. */
const CONFIRM_MS = 5_000;

export interface AdapterWiring {
  adapter: ReturnType<typeof createAdapter> | ReturnType<typeof createShardedAdapter>;
  pub: RedisClient;
  sub: RedisClient;
  /**
   * Told when the subscriber drops (false) and when it is back and re-subscribed (true). One
   * Redis: ioredis re-sends the subscriptions right after "ready", so a PING answered after them
   * confirms them. A cluster: any shard's subscriber connection lost counts as a cut (some rooms
   * missed messages); it is over once every master answers again and no node failed for a second.
   */
  onSubscriberLink(handler: (up: boolean, cause?: string) => void): void;
  /**
   * Resolves once Redis confirmed this gateway's subscription to a room (just joined): a message
   * published after that reaches the room here. The sharded adapter subscribes a room's channel
   * without waiting; a second SSUBSCRIBE of the channel on the same connection is answered after
   * the first. One Redis needs nothing (every room rides one pattern subscription). Bounded
   * (CONFIRM_MS); a failure resolves too (the outage replay and `chat:join {after}` fill what was missed).
   * Asked once per room while it has sockets here: the joins that follow share the first answer
   * (ioredis keeps one entry per SSUBSCRIBE it sent, so one per join grew its list with the joins).
   */
  roomSubscribed(room: string): Promise<void>;
  /** The room has no socket here any more: its next join confirms its subscription afresh. */
  forgetRoom(room: string): void;
}

/**
 * `@socket.io/redis-adapter` on two ioredis clients. The publisher has no offline queue: while
 * Redis is down a broadcast reaches this gateway's sockets at once and fails fast for the others
 * (they read what they missed from PostgreSQL when they are back: OutageReplay). The subscriber
 * queues its subscriptions until the first connection, and ioredis re-subscribes by itself after
 * every reconnect.
 */
export function wireRedisAdapter(options: { clients: AdapterClients; logger: Logger; onPublishFailed: () => void }): AdapterWiring {
  const log = options.logger.child({ module: "gateway:adapter" });
  const { pub, sub } = options.clients;
  let warned = false;
  pub.on("ready", () => {
    warned = false;
  });
  const onError = (command: string, err: Error) => {
    if (command === "publish") options.onPublishFailed();
    // One line per outage, not one per message.
    if (!warned) log.warn({ command, err: err.message }, "redis adapter command failed; broadcasts are local only until Redis is back");
    warned = true;
  };
  /** Rooms whose subscription was (or is being) confirmed, until they empty here. */
  const confirmations = new Map<string, Promise<void>>();
  const adapter = options.clients.sharded
    ? // Dynamic: one channel per chat room (user and session lookups are local maps, not rooms).
      createShardedAdapter(guarded(pub, onError), guarded(sub, onError), { channelPrefix: CHANNEL_PREFIX, subscriptionMode: "dynamic" })
    : createAdapter(guarded(pub, onError), guarded(sub, onError), { key: CHANNEL_PREFIX });
  return {
    adapter,
    pub,
    sub,
    roomSubscribed(room) {
      if (!options.clients.sharded) return Promise.resolve();
      let confirmation = confirmations.get(room);
      if (!confirmation) {
        let timer: NodeJS.Timeout | undefined;
        const confirmed = options.clients.sub.ssubscribe(roomChannel(room)).then(
          () => true,
          () => false,
        );
        // Bounded, so that a handshake never hangs on a Redis that does not answer; 5 s because a
        // loaded Redis Cluster (a test run on 2 cores) took over 2 s. Unconfirmed (failed or late),
        // the room is asked again at its next join instead of being taken as subscribed.
        const settled = Promise.race([confirmed, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CONFIRM_MS)))]).finally(() => clearTimeout(timer));
        confirmation = settled.then((ok) => {
          if (!ok && confirmations.get(room) === confirmation) confirmations.delete(room);
        });
        confirmations.set(room, confirmation);
      }
      return confirmation;
    },
    forgetRoom(room) {
      confirmations.delete(room);
    },
    onSubscriberLink(handler) {
      if (options.clients.sharded) return followShards(options.clients.sub, handler);
      sub.on("close", () => handler(false, "closed"));
      sub.on("ready", () => {
        setImmediate(() => {
          sub.ping().then(
            () => handler(true),
            () => undefined, // dropped again: the next "ready" reports
          );
        });
      });
    },
  };
}

/**
 * A cluster subscriber's link: up once every master answered after the client's first "ready"; down
 * when a shard's subscriber connection ends ("-node"), a subscriber is replaced or dropped after a
 * topology change ("-subscriber"), or the whole client closes; up again once every master answers
 * and no node failed for a second.
 * Before the first "ready" the client is still finding the cluster: it drops the seeds that turn out
 * to be replicas ("-node"), which is no failure (reported as one, the outage replay re-sent the
 * messages of a gateway's first second, some of them also arriving live).
 * A "node error" is not a cut: it is a slot refresh (CLUSTER SLOTS, bounded by slotsRefreshTimeout)
 * that timed out or failed on one node, while the subscriber connections stay as they were. Taken
 * for one, every gateway whose event loop was busy for 2 s (a collection, a reconnect storm)
 * replayed its rooms' recent messages: at 100,000 sockets on the Redis Cluster, 770 of a broadcast's
 * 100,000 deliveries came twice, and the replays' queries added to the load that had caused them.
 */
function followShards(sub: Cluster, handler: (up: boolean, cause?: string) => void): void {
  let started = false;
  let down = true;
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    timer = undefined;
    Promise.all(sub.nodes("master").map((node) => node.ping())).then(
      () => {
        if (timer || !down) return;
        down = false;
        handler(true);
      },
      () => {
        timer ??= setTimeout(check, 1_000);
      },
    );
  };
  const failed = (cause: string) => {
    if (!started) return;
    if (!down) {
      down = true;
      handler(false, cause);
    }
    clearTimeout(timer);
    timer = setTimeout(check, 1_000);
  };
  sub.on("-node", (node: { options?: { host?: string; port?: number } } | null) => failed(`node ${node?.options?.host}:${node?.options?.port} dropped`));
  sub.on("-subscriber", () => failed("a shard's subscriber was replaced"));
  sub.on("close", () => failed("closed"));
  const start = () => {
    started = true;
    if (!timer) check();
  };
  if (sub.status === "ready") start();
  else sub.once("ready", start);
}

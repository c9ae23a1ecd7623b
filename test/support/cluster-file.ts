import { afterAll, beforeAll } from "vitest";
import { type Cluster, startCluster } from "./cluster";
import { createTestDatabase, type TestDatabase } from "./database";
import { type RedisServer, startRedisServer } from "./redis-server";
import { SocketClients } from "./socket-client";

/**
 * A test file's own pm2 cluster behind nginx (as `npm run cluster` runs it), on a database and a
 * redis-server of its own: started before the file's tests and stopped after them, with the
 * sockets the file opened. `env`: settings for every process of the cluster.
 */
export function clusterForFile(options: { env?: Record<string, string> } = {}) {
  let cluster: Cluster | undefined;
  let database: TestDatabase | undefined;
  let redis: RedisServer | undefined;
  const sockets = new SocketClients();
  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false }); // the cluster's own migrate step runs them
    redis = await startRedisServer();
    cluster = await startCluster({ databaseUrl: database.url, redisUrl: redis.url, ...(options.env ? { env: options.env } : {}) });
  }, 180_000);
  afterAll(async () => {
    sockets.closeAll();
    await cluster?.stop();
    await redis?.stop();
    await database?.drop();
  }, 60_000);
  return {
    sockets,
    get cluster(): Cluster {
      if (!cluster) throw new Error("the cluster is not started (use it inside a test)");
      return cluster;
    },
    get database(): TestDatabase {
      if (!database) throw new Error("the database is not created (use it inside a test)");
      return database;
    },
  };
}

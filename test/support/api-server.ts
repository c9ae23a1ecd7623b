import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import pino, { type Logger } from "pino";
import { type Api, createApi } from "../../api/app";
import { type Config, loadConfig } from "../../shared/config";
import { type ControlBus, createMemoryBus, createRedisBus } from "../../shared/control-bus";
import type { Db } from "../../shared/db/db";
import { closeServer, listen } from "../../shared/process";
import { createRedis, quitRedis, type Redis } from "../../shared/redis";

export const TEST_SECRET = "test-secret-that-is-long-enough-0123456789";

/** A config as the entry points build it, from an environment given here (no .env, no process.env). */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    dotenv: false,
    env: {
      NODE_ENV: "test",
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: "silent",
      // OWASP's minimum argon2id cost keeps the suite quick; production defaults are higher.
      ARGON2_MEMORY_KIB: "19456",
      ARGON2_TIME_COST: "2",
      ARGON2_PARALLELISM: "1",
      // Every test registers from 127.0.0.1; the tests of this limit set their own.
      REGISTER_MAX_PER_IP: "100000",
      ...env,
    },
  });
}

export interface ApiServer {
  url: string;
  api: Api;
  config: Config;
  bus: ControlBus;
  redis?: Redis;
  server: Server;
  close(): Promise<void>;
}

/** One api instance on a free loopback port, on the given database (and Redis, when given). */
export async function startApi(options: {
  db: Db;
  env?: Record<string, string>;
  redisUrl?: string;
  bus?: ControlBus;
  logger?: Logger;
}): Promise<ApiServer> {
  const config = testConfig({ ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}), ...options.env });
  const logger = options.logger ?? pino({ level: "silent" });
  const name = `test-api-${randomBytes(3).toString("hex")}`;
  const redis = config.redisUrl ? createRedis({ url: config.redisUrl, logger, name }) : undefined;
  const ownBus = !options.bus;
  const bus = options.bus ?? (config.redisUrl ? createRedisBus({ url: config.redisUrl, logger, name }) : createMemoryBus());
  const api = createApi({ config, logger, db: options.db, bus, redis });
  const server = createServer(api.app);
  const port = await listen(server, 0, "127.0.0.1");
  return {
    url: `http://127.0.0.1:${port}`,
    api,
    config,
    bus,
    redis,
    server,
    async close() {
      await closeServer(server);
      server.closeAllConnections();
      await api.close();
      if (ownBus) await bus.close();
      if (redis) await quitRedis(redis);
    },
  };
}

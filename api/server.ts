import type { PresenceStore } from "../shared/presence/presence";
import type { QueryReplies } from "../shared/control/queries";
import { createServer, type Server } from "node:http";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../shared/config";
import type { ControlBus } from "../shared/control/bus";
import type { MessageOutlet } from "../shared/delivery/publish";
import type { Db } from "../shared/db/db";
import type { RedisClient } from "../shared/redis/clients";
import { type Running, serveHttp } from "../shared/serve";
import { type Api, createApi } from "./app";

export interface ApiServerOptions {
  config: Config;
  logger: Logger;
  db: Db;
  bus: ControlBus;
  /** Where messages posted over HTTP go (the services' outlet, or npm start's gateway). */
  outlet: MessageOutlet;
  redis?: RedisClient | undefined;
  /** Who is online where (the services' store). */
  presence?: PresenceStore;
  /** Where gateways answer the server API's questions (the services'). */
  replies?: QueryReplies;
  /** Default `config.port` on `config.host`. */
  port?: number;
  host?: string;
  registry?: Registry;
}

/** `close()` stops listening, ends open connections, the metrics listener and the api; the connections passed in stay open. */
export interface ApiServer extends Running {
  api: Api;
  /** The HTTP server (npm start attaches the gateway to it). */
  server: Server;
}

/**
 * One api process: the express app on its HTTP server, listening, plus /metrics on METRICS_PORT
 * when set. What bin/api.ts, npm start, the tests and the bench all run.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { config, logger } = options;
  const api = createApi({ config, logger, db: options.db, bus: options.bus, outlet: options.outlet, redis: options.redis, registry: options.registry, presence: options.presence, replies: options.replies });
  await api.warmUp();
  const server = createServer(api.app);
  const listening = await serveHttp(server, api.registry, config, options);
  logger.info({ port: listening.port, metricsPort: listening.metricsPort }, "api listening");
  // Gateways on JWKS_URL learn at once of a key this replica publishes (a rotation), instead of
  // at their next periodic fetch or at the first token that names it.
  const kids = api.publishedKids();
  if (kids.length > 0) await options.bus.publish({ type: "keys_published", kids });
  return {
    url: listening.url,
    port: listening.port,
    api,
    server,
    async close() {
      await listening.close();
      await api.close();
    },
  };
}

import { createServer, type Server } from "node:http";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../shared/config";
import type { ControlBus } from "../shared/control/bus";
import type { Db } from "../shared/db/db";
import { serveMetrics } from "../shared/metrics";
import { closeServer, listen } from "../shared/process";
import type { Redis } from "../shared/redis";
import { type Api, createApi } from "./app";

export interface ApiServerOptions {
  config: Config;
  logger: Logger;
  db: Db;
  bus: ControlBus;
  redis?: Redis | undefined;
  /** Default `config.port` on `config.host`. */
  port?: number;
  host?: string;
  registry?: Registry;
}

export interface ApiServer {
  url: string;
  port: number;
  api: Api;
  /** The HTTP server (npm start attaches the gateway to it). */
  server: Server;
  /** Stops listening and ends open connections, the metrics listener and the api; the connections passed in stay open. */
  close(): Promise<void>;
}

/**
 * One api process: the express app on its HTTP server, listening, plus /metrics on METRICS_PORT
 * when set. What bin/api.ts, npm start, the tests and the bench all run.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { config, logger } = options;
  const api = createApi({ config, logger, db: options.db, bus: options.bus, redis: options.redis, registry: options.registry });
  await api.warmUp();
  const server = createServer(api.app);
  const host = options.host ?? config.host;
  const port = await listen(server, options.port ?? config.port, host);
  const metrics = config.metricsPort !== undefined ? await serveMetrics(api.registry, config.metricsPort, host) : undefined;
  logger.info({ port, metricsPort: metrics?.port }, "api listening");
  return {
    url: `http://${host && host !== "0.0.0.0" ? host : "127.0.0.1"}:${port}`,
    port,
    api,
    server,
    async close() {
      await closeServer(server);
      server.closeAllConnections();
      await metrics?.close();
      await api.close();
    },
  };
}

import { createServer } from "node:http";
import express from "express";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { Config } from "../shared/config";
import type { ControlBus } from "../shared/control/bus";
import type { Db } from "../shared/db/db";
import { serveMetrics } from "../shared/metrics";
import { closeServer, listen } from "../shared/process";
import { createGateway, type Gateway, type GatewayLimits } from "./app";
import type { AdapterClients } from "./redis/adapter";

export interface GatewayServerOptions {
  config: Config;
  logger: Logger;
  db: Db;
  pool: Pool;
  bus: ControlBus;
  /** The Redis adapter's clients; without them rooms stay in this process. */
  adapter?: AdapterClients | undefined;
  limits?: Partial<GatewayLimits>;
  /** Default `config.port` on `config.host`. */
  port?: number;
  host?: string;
}

export interface GatewayServer {
  url: string;
  port: number;
  gateway: Gateway;
  /** Closes the gateway (sockets dropped, clients reconnect elsewhere), then its HTTP and metrics listeners. */
  close(): Promise<void>;
}

/**
 * One gateway process: Socket.IO at /ws on its own HTTP server with /healthz and /readyz, plus
 * /metrics (on METRICS_PORT when set). What bin/gateway.ts, the tests and the bench all run.
 */
export async function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  const { config, logger } = options;
  // The express app must be the server's listener before Socket.IO attaches (it then routes /ws/
  // itself and hands everything else on).
  const app = express();
  app.disable("x-powered-by");
  const server = createServer(app);
  const gateway = createGateway({ ...options, httpServer: server });
  app.use(gateway.routes);
  const host = options.host ?? config.host;
  const port = await listen(server, options.port ?? config.port, host);
  const metrics = config.metricsPort !== undefined ? await serveMetrics(gateway.registry, config.metricsPort, host) : undefined;
  logger.info({ port, metricsPort: metrics?.port, gateway: gateway.id }, "gateway listening");
  return {
    url: `http://${host && host !== "0.0.0.0" ? host : "127.0.0.1"}:${port}`,
    port,
    gateway,
    async close() {
      await gateway.close();
      await closeServer(server);
      server.closeAllConnections();
      await metrics?.close();
    },
  };
}

import type { QueryReplies } from "../shared/control/queries";
import { createServer } from "node:http";
import express from "express";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { Config } from "../shared/config";
import type { ControlBus } from "../shared/control/bus";
import type { Db } from "../shared/db/db";
import { type Running, serveHttp } from "../shared/serve";
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
  /** Where it answers the server API's questions (the services'). */
  replies?: QueryReplies;
  /** Default `config.port` on `config.host`. */
  port?: number;
  host?: string;
}

/** `close()` closes the gateway (sockets dropped, clients reconnect elsewhere), then its HTTP and metrics listeners. */
export interface GatewayServer extends Running {
  gateway: Gateway;
}

/** A running server with the gateway attached: closing it closes the gateway first (its sockets), then the server. */
export function withGateway(server: Running, gateway: Gateway): Running {
  return {
    url: server.url,
    port: server.port,
    async close() {
      await gateway.close();
      await server.close();
    },
  };
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
  const listening = await serveHttp(server, gateway.registry, config, options);
  logger.info({ port: listening.port, metricsPort: listening.metricsPort, gateway: gateway.id }, "gateway listening");
  return { ...withGateway(listening, gateway), gateway };
}

import type { Logger } from "pino";
import { startApiServer } from "../api/server";
import { createGateway, type Gateway, type GatewayLimits } from "../gateway/app";
import { type Config, loadConfig } from "../shared/config";
import { createLogger } from "../shared/logger";
import { runMain } from "../shared/process";
import { connectServices, type Services } from "./services";

export interface StandaloneServer {
  url: string;
  port: number;
  gateway: Gateway;
  close(): Promise<void>;
}

/**
 * `npm start`'s one process: the api on its port with the gateway attached to the same server
 * (/ws/ is Socket.IO's, the rest the api's; one /metrics with both's figures). Used by main below
 * and by the single-node test fixture.
 */
export async function startStandaloneServer(options: {
  config: Config;
  logger: Logger;
  services: Omit<Services, "close">;
  port?: number;
  host?: string;
  limits?: Partial<GatewayLimits>;
}): Promise<StandaloneServer> {
  const { config, logger, services } = options;
  const api = await startApiServer({ ...services, config, logger, port: options.port, host: options.host });
  const gateway = createGateway({ ...services, config, logger, httpServer: api.server, registry: api.api.registry, limits: options.limits });
  return {
    url: api.url,
    port: api.port,
    gateway,
    async close() {
      await gateway.close();
      await api.close();
    },
  };
}

// `npm start`: the embedded PostgreSQL unless DATABASE_URL is set, migrations applied; without
// REDIS_URL the control bus and the rooms are in memory.
if (require.main === module) {
  runMain(async () => {
    const config = loadConfig();
    const logger = createLogger({ level: config.logLevel, name: "standalone" });
    const services = await connectServices(config, logger, { role: "standalone", embedded: true, migrate: true });
    const server = await startStandaloneServer({ config, logger, services });
    logger.info({ port: server.port }, "listening on http://localhost:%d", server.port);
    return { logger, cleanups: [() => server.close(), () => services.close()] };
  });
}

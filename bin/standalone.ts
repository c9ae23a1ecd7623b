import type { Logger } from "pino";
import { startApiServer } from "../api/server";
import { createGateway, type Gateway, type GatewayLimits } from "../gateway/app";
import { withGateway } from "../gateway/server";
import type { Running } from "../shared/serve";
import type { Config } from "../shared/config";
import { runService, type Services } from "./services";

export interface StandaloneServer extends Running {
  gateway: Gateway;
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
  return { ...withGateway(api, gateway), gateway };
}

// `npm start`: the embedded PostgreSQL unless DATABASE_URL is set, migrations applied; without
// REDIS_URL the control bus and the rooms are in memory.
if (require.main === module) {
  runService("standalone", ({ config, logger, services }) => startStandaloneServer({ config, logger, services }), { embedded: true, migrate: true });
}

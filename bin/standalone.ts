import type { Logger } from "pino";
import { startApiServer } from "../api/server";
import { createGateway, type Gateway, type GatewayLimits } from "../gateway/app";
import { withGateway } from "../gateway/server";
import { lateOutlet } from "../shared/delivery/outlets";
import { startWebhookWorker } from "../api/webhooks/worker";
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
  services: Omit<Services, "close" | "outlet">;
  port?: number;
  host?: string;
  limits?: Partial<GatewayLimits>;
}): Promise<StandaloneServer> {
  const { config, logger, services } = options;
  // The api publishes messages posted over HTTP through the gateway, which it is made before.
  const outlet = lateOutlet();
  const api = await startApiServer({ ...services, outlet, config, logger, port: options.port, host: options.host });
  const gateway = createGateway({ ...services, config, logger, httpServer: api.server, registry: api.api.registry, limits: options.limits });
  outlet.attach(gateway.outlet);
  // The webhook worker runs in this process too (a role of its own in the cluster).
  const worker = await startWebhookWorker({ db: services.db, pool: services.pool, presence: services.presence, config: config.webhooks, logger, registry: api.api.registry });
  const running = withGateway(api, gateway);
  return {
    ...running,
    gateway,
    async close() {
      await running.close();
      await worker.stop();
    },
  };
}

// `npm start`: the embedded PostgreSQL unless DATABASE_URL is set, migrations applied; without
// REDIS_URL the control bus and the rooms are in memory.
if (require.main === module) {
  runService(
    "standalone",
    async ({ config, logger, services }) => {
      const server = await startStandaloneServer({ config, logger, services });
      // On stderr, so that stdout stays one JSON log line per line wherever it is piped.
      process.stderr.write(banner(config, server.port));
      return server;
    },
    { embedded: true, migrate: true },
  );
}

/** What a newcomer needs after `npm start`: where to click, and where the data lives. */
function banner(config: Config, port: number): string {
  const base = `http://localhost:${port}`;
  const redact = (url: string) => url.replace(/\/\/[^@/]*@/, "//");
  const data = config.databaseUrl ? `PostgreSQL at ${redact(config.databaseUrl)}` : `embedded PostgreSQL in ${config.dataDir}`;
  const rooms = config.redis ? "rooms and revocations on Redis" : "rooms, revocations and presence in this process (no Redis)";
  return [
    "",
    `  ws-auth-cluster is up`,
    `  demo page   ${base}/`,
    `  API docs    ${base}/docs  (${base}/openapi.json, ${base}/asyncapi.json)`,
    `  Socket.IO   ${base} with path /ws`,
    `  data        ${data}; ${rooms}`,
    "",
    "",
  ].join("\n");
}

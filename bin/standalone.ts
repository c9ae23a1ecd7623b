import { createServer } from "node:http";
import { createApi } from "../api/app";
import { createGateway } from "../gateway/app";
import { loadConfig } from "../shared/config";
import { createLogger } from "../shared/logger";
import { closeServer, listen, runMain } from "../shared/process";
import { connectServices, startMetrics } from "./services";

// `npm start`: the api and the Socket.IO gateway in one process on PORT, with the embedded
// PostgreSQL unless DATABASE_URL is set. Without REDIS_URL the control bus and the rooms are in memory.
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "standalone" });
  const services = await connectServices(config, logger, { name: "standalone", embedded: true, migrate: true });
  const api = createApi({ config, logger, db: services.db, redis: services.redis, bus: services.bus });
  await api.warmUp();
  const server = createServer(api.app);
  // Same port, same /healthz, /readyz and /metrics (the api's, with the gateway's figures added).
  const gateway = createGateway({ httpServer: server, config, logger, db: services.db, bus: services.bus, registry: api.registry });
  const port = await listen(server, config.port, config.host);
  logger.info({ port }, "listening on http://localhost:%d", port);
  const metrics = await startMetrics(config, api.registry, logger);
  return { logger, cleanups: [() => gateway.close(), () => closeServer(server), ...metrics, () => api.close(), ...services.cleanups] };
});

import { createServer } from "node:http";
import { createApi } from "../api/app";
import { loadConfig } from "../shared/config";
import { createLogger } from "../shared/logger";
import { closeServer, listen, runMain } from "../shared/process";
import { connectServices, startMetrics } from "./services";

// One api replica (the cluster runs several): needs DATABASE_URL; REDIS_URL shares rate limits
// and carries revocations to the gateways. Migrations are the migrate command's job here.
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "api" });
  const services = await connectServices(config, logger, { name: "api" });
  const api = createApi({ config, logger, db: services.db, redis: services.redis, bus: services.bus });
  await api.warmUp();
  const server = createServer(api.app);
  const port = await listen(server, config.port, config.host);
  logger.info({ port }, "api listening");
  const metrics = await startMetrics(config, api.registry, logger);
  return { logger, cleanups: [() => closeServer(server), ...metrics, () => api.close(), ...services.cleanups] };
});

import { createServer } from "node:http";
import { createApi } from "../api/app";
import { loadConfig } from "../shared/config";
import { createLogger } from "../shared/logger";
import { closeServer, listen, runMain } from "../shared/process";
import { connectServices } from "./services";

// `npm start`: the api (and, from the gateway issue on, the Socket.IO gateway) in one process on
// PORT, with the embedded PostgreSQL unless DATABASE_URL is set.
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "standalone" });
  const services = await connectServices(config, logger, { name: "standalone", embedded: true, migrate: true });
  const api = createApi({ config, logger, db: services.db, redis: services.redis, bus: services.bus });
  await api.warmUp();
  const server = createServer(api.app);
  const port = await listen(server, config.port, config.host);
  logger.info({ port }, "listening on http://localhost:%d", port);
  return { logger, cleanups: [() => closeServer(server), () => api.close(), ...services.cleanups] };
});

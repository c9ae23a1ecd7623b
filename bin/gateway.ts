import { startGatewayServer } from "../gateway/server";
import { loadConfig } from "../shared/config";
import { createLogger } from "../shared/logger";
import { runMain } from "../shared/process";
import { connectServices } from "./services";

// One Socket.IO gateway (the cluster runs several behind nginx): DATABASE_URL; with REDIS_URL its
// rooms span every gateway and it hears the api's control events.
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "gateway" });
  const services = await connectServices(config, logger, { role: "gateway" });
  const server = await startGatewayServer({ ...services, config, logger });
  return { logger, cleanups: [() => server.close(), () => services.close()] };
});

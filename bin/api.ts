import { startApiServer } from "../api/server";
import { loadConfig } from "../shared/config";
import { createLogger } from "../shared/logger";
import { runMain } from "../shared/process";
import { connectServices } from "./services";

// One api replica (the cluster runs several): DATABASE_URL; REDIS_URL shares rate limits and
// carries revocations to the gateways. Migrations are the migrate command's job here.
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "api" });
  const services = await connectServices(config, logger, { role: "api" });
  const server = await startApiServer({ ...services, config, logger });
  return { logger, cleanups: [() => server.close(), () => services.close()] };
});

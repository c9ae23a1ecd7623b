import { createServer } from "node:http";
import express from "express";
import { createGateway } from "../gateway/app";
import { loadConfig } from "../shared/config";
import { createLogger } from "../shared/logger";
import { closeServer, listen, runMain } from "../shared/process";
import { connectServices, startMetrics } from "./services";

// One Socket.IO gateway on PORT (the cluster runs several behind nginx): needs DATABASE_URL;
// with REDIS_URL its rooms span every gateway and it hears the api's control events.
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "gateway" });
  const services = await connectServices(config, logger, { name: "gateway" });
  // The express app must be the server's listener before Socket.IO attaches (it then routes
  // /ws/ itself and hands everything else on); its routes are filled in below.
  const app = express();
  app.disable("x-powered-by");
  const server = createServer(app);
  const gateway = createGateway({ httpServer: server, config, logger, db: services.db, bus: services.bus, gatewayId: config.gatewayId });
  app.use(gateway.routes);
  const port = await listen(server, config.port, config.host);
  logger.info({ port, gateway: gateway.id }, "gateway listening");
  const metrics = await startMetrics(config, gateway.registry, logger);
  return { logger, cleanups: [() => gateway.close(), () => closeServer(server), ...metrics, ...services.cleanups] };
});

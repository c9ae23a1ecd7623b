import { startGatewayServer } from "../gateway/server";
import { runService } from "./services";

// One Socket.IO gateway (the cluster runs several behind nginx): DATABASE_URL; with REDIS_URL its
// rooms span every gateway and it hears the api's control events.
runService("gateway", ({ config, logger, services }) => startGatewayServer({ ...services, config, logger }));

import { startWorkerServer } from "../api/webhooks/server";
import { runService } from "./services";

// The webhook worker (the cluster runs one or more): DATABASE_URL for the events and deliveries,
// REDIS_URL for presence (who of a chat was offline when its message was sent).
runService("worker", ({ config, logger, services }) => startWorkerServer({ ...services, config, logger }));

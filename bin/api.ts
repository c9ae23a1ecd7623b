import { startApiServer } from "../api/server";
import { runService } from "./services";

// One api replica (the cluster runs several): DATABASE_URL; REDIS_URL shares rate limits and
// carries revocations to the gateways. Migrations are the migrate command's job here.
runService("api", ({ config, logger, services }) => startApiServer({ ...services, config, logger }));

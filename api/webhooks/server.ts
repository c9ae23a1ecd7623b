import { createServer } from "node:http";
import express from "express";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../../shared/config";
import { type Db, pingDb } from "../../shared/db/db";
import { healthRoutes } from "../../shared/health";
import { createRegistry } from "../../shared/metrics";
import type { PresenceStore } from "../../shared/presence/presence";
import { pingRedis, type RedisClient } from "../../shared/redis/clients";
import { type Running, serveHttp } from "../../shared/serve";
import { startWebhookWorker, type WebhookWorker } from "./worker";

export interface WorkerServerOptions {
  config: Config;
  logger: Logger;
  db: Db;
  pool: Pool;
  presence: PresenceStore;
  redis?: RedisClient | undefined;
  registry?: Registry;
  port?: number;
  host?: string;
}

/**
 * The webhook worker as a process of its own (`bin/worker.ts`, the pm2 and compose `worker`
 * role; scale it freely: graphile-worker hands each job to one worker). `/healthz` and `/readyz`
 * on PORT, `/metrics` on METRICS_PORT (or on PORT without it).
 */
export async function startWorkerServer(options: WorkerServerOptions): Promise<Running & { worker: WebhookWorker }> {
  const { config, db } = options;
  const registry = options.registry ?? createRegistry({ service: "worker" });
  const worker = await startWebhookWorker({ db, pool: options.pool, presence: options.presence, config: config.webhooks, logger: options.logger, registry });
  const app = express();
  app.disable("x-powered-by");
  const checks: Record<string, () => Promise<boolean>> = { database: () => pingDb(db) };
  if (options.redis) checks.redis = () => pingRedis(options.redis!);
  app.use(healthRoutes(checks, registry, { metrics: config.metricsPort === undefined }));
  const listening = await serveHttp(createServer(app), registry, config, options);
  return {
    ...listening,
    worker,
    async close() {
      await listening.close();
      await worker.stop();
    },
  };
}

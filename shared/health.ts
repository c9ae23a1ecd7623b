import { Router } from "express";
import type { Registry } from "prom-client";
import { AppError } from "./contract/errors";
import { metricsResponse } from "./metrics";

export type HealthCheck = () => Promise<boolean>;

/**
 * `/healthz` (the process answers), `/readyz` (every named dependency answers: 200, else 503
 * `unavailable` naming what is down) and, unless `metrics` is false (METRICS_PORT serves them
 * elsewhere), `/metrics` (Prometheus text).
 */
export function healthRoutes(checks: Record<string, HealthCheck>, registry: Registry, options: { metrics: boolean } = { metrics: true }): Router {
  const router = Router();
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    const names = Object.keys(checks);
    const results = await Promise.all(names.map((n) => checks[n]!().catch(() => false)));
    const state = Object.fromEntries(names.map((n, i) => [n, results[i] ? "up" : "down"]));
    if (results.every(Boolean)) {
      res.json({ status: "ready", checks: state });
      return;
    }
    const down = names.filter((_, i) => !results[i]).join(", ");
    const problem = new AppError("unavailable", 503, `Not ready: ${down} unreachable`, { checks: state }).toProblem();
    res.status(503).type("application/problem+json").send(JSON.stringify(problem));
  });
  if (options.metrics) {
    router.get("/metrics", async (_req, res) => {
      const { type, body } = await metricsResponse(registry);
      res.type(type).send(body);
    });
  }
  return router;
}

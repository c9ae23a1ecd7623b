import { Router } from "express";
import type { Registry } from "prom-client";

export type HealthCheck = () => Promise<boolean>;

/**
 * `/healthz` (the process answers), `/readyz` (every named dependency answers: 200, else 503
 * `unavailable` naming what is down) and `/metrics` (Prometheus text).
 */
export function healthRoutes(checks: Record<string, HealthCheck>, registry: Registry): Router {
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
    res
      .status(503)
      .type("application/problem+json")
      .send(JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, code: "unavailable", detail: `Not ready: ${down} unreachable`, checks: state }));
  });
  router.get("/metrics", async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return router;
}

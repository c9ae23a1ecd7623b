import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, Response } from "express";
import type { Logger } from "pino";
import { pinoHttp } from "pino-http";
import { Counter, Histogram, type Registry } from "prom-client";
import { safeUrl } from "../../shared/logger";

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * One JSON line per request with a request id (taken from a sane `X-Request-Id` or made here and
 * echoed back). Only method, path without credentials, status and timing are logged: no headers,
 * no bodies, so no token or password can reach the log.
 */
export function requestLogger(logger: Logger) {
  return pinoHttp({
    logger: logger.child({ module: "http" }),
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const incoming = req.headers["x-request-id"];
      const id = typeof incoming === "string" && REQUEST_ID_RE.test(incoming) ? incoming : randomUUID();
      res.setHeader("X-Request-Id", id);
      return id;
    },
    serializers: {
      req: (req: { id: unknown; method: string; url: string; remoteAddress?: string; raw?: Request }) => ({
        id: req.id,
        method: req.method,
        url: safeUrl(req.url),
        ip: req.raw?.ip ?? req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? "error" : "info"),
    autoLogging: { ignore: (req) => req.url === "/healthz" || req.url === "/metrics" },
  });
}

/** Request counts and latencies by route pattern (never the raw path: ids would explode the label set). */
export function httpMetrics(registry: Registry) {
  const labelNames = ["method", "route", "status"] as const;
  const requests = new Counter({ name: "http_requests_total", help: "HTTP requests by route and status", labelNames, registers: [registry] });
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request latency by route and status",
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return (req: Request, res: Response, next: NextFunction): void => {
    const end = duration.startTimer();
    res.on("finish", () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : "unmatched";
      const labels = { method: req.method, route, status: String(res.statusCode) };
      requests.inc(labels);
      end(labels);
    });
    next();
  };
}

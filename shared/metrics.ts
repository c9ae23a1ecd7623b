import { createServer } from "node:http";
import { collectDefaultMetrics, Registry } from "prom-client";
import { closeServer, listen } from "./process";

/**
 * A registry per service instance (not prom-client's global one), so several instances can live
 * in one process during tests. Process figures (CPU, memory, event loop lag, handles) included.
 */
export function createRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Answers GET /metrics (Prometheus text) from `registry`; anything else is not a metrics request. */
export async function metricsResponse(registry: Registry): Promise<{ type: string; body: string }> {
  return { type: registry.contentType, body: await registry.metrics() };
}

/**
 * `/metrics` on a listener of its own (METRICS_PORT), so the service's public port never serves
 * it, whatever a proxy in front lets through. Every other path is 404.
 */
export async function serveMetrics(registry: Registry, port: number, host = "127.0.0.1"): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not found\n");
      return;
    }
    metricsResponse(registry).then(
      ({ type, body }) => res.writeHead(200, { "content-type": type }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  const bound = await listen(server, port, host);
  return { port: bound, close: () => closeServer(server) };
}

import type { Server } from "node:http";
import type { Registry } from "prom-client";
import type { Config } from "./config";
import { serveMetrics } from "./metrics";
import { closeServer, listen } from "./process";

/** A service listening on its port: what every start function returns, plus its own parts. */
export interface Running {
  /** The loopback URL (or the host's) of the main port. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface Listening extends Running {
  metricsPort: number | undefined;
}

/**
 * Puts a service's HTTP server on its port (`port`/`host`, default the config's) and, with
 * METRICS_PORT, `/metrics` of `registry` on a listener of its own on the same host.
 */
export async function serveHttp(server: Server, registry: Registry, config: Config, at: { port?: number | undefined; host?: string | undefined } = {}): Promise<Listening> {
  const host = at.host ?? config.host;
  const port = await listen(server, at.port ?? config.port, host);
  const metrics = config.metricsPort !== undefined ? await serveMetrics(registry, config.metricsPort, host) : undefined;
  return {
    url: `http://${host && host !== "0.0.0.0" && host !== "::" ? host : "127.0.0.1"}:${port}`,
    port,
    metricsPort: metrics?.port,
    async close() {
      await closeServer(server);
      server.closeAllConnections();
      await metrics?.close();
    },
  };
}

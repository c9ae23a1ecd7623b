import type { Server } from "node:http";
import type { Server as NetServer } from "node:net";
import type { Logger } from "pino";
import { ConfigError } from "./config";

export type Cleanup = () => Promise<unknown> | unknown;

/**
 * Runs an entry point: a ConfigError becomes one clear line on stderr and exit code 1; SIGINT and
 * SIGTERM run the cleanups that `main` returned (in order, bounded in time) and exit 0.
 */
export function runMain(main: () => Promise<{ logger: Logger; cleanups: Cleanup[] }>, graceMs = 10_000): void {
  main().then(
    ({ logger, cleanups }) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "shutting down");
        const force = setTimeout(() => {
          logger.error("shutdown took too long; exiting");
          process.exit(1);
        }, graceMs);
        force.unref();
        (async () => {
          for (const cleanup of cleanups) {
            try {
              await cleanup();
            } catch (err) {
              logger.warn({ err: (err as Error).message }, "cleanup step failed");
            }
          }
          logger.info("stopped");
          process.exit(0);
        })();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    },
    (err: unknown) => {
      if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
      else process.stderr.write(`Fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/** Stops accepting connections and ends idle keep-alive ones; resolves when the server is closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/**
 * Listens with Node's accept queue of 511. A deeper one (4,096) was measured in the scale run's
 * reconnect storm and was worse: a saturated gateway accepted connections that had waited longer
 * than their clients do, so most of its work went to clients that had already given up (docs/scale.md).
 */
export function listen(server: Server | NetServer, port: number, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

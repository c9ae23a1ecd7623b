import { createServer, type Server, Socket } from "node:net";
import { listen } from "../../shared/process";

export interface TcpProxy {
  port: number;
  /** Refuses new connections and drops the open ones (the backend looks down). */
  cut(): Promise<void>;
  /** Accepts again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A loopback TCP relay to `target`, so a test can take a dependency (PostgreSQL) away and back. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const start = async () => {
    const s = createServer((client) => {
      const upstream = new Socket();
      open.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        open.delete(client);
        open.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      upstream.connect(target.port, target.host, () => {
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    server = s;
    port = await listen(s, port, "127.0.0.1");
  };

  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      for (const socket of open) socket.destroy();
      open.clear();
      if (!s) return resolve();
      s.close(() => resolve());
    });

  await start();
  return {
    get port() {
      return port;
    },
    cut: stop,
    restore: start,
    close: stop,
  };
}

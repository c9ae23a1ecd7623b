/**
 * A throwaway redis-server on a free loopback port, and free ports for a Redis Cluster: the bench's
 * and the tests' (test/support/redis-server.ts re-exports this file).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, Socket } from "node:net";

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? "/usr/bin/redis-server";

/** A free loopback port (released at once, so a tiny race with other processes is possible). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when something answers PING with PONG on the port. */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const server = createServer();
    server.once("error", () => res(false));
    server.listen(port, "127.0.0.1", () => server.close(() => res(true)));
  });
}

/** Six free loopback ports below 55536 whose cluster-bus ports (+10000) are free too (bounded tries). */
export async function sixPorts(): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < 500 && ports.length < 6; i += 1) {
    const p = 20_000 + Math.floor(Math.random() * 35_000);
    if (ports.some((q) => Math.abs(q - p) < 2 || q === p + 10_000 || q + 10_000 === p)) continue;
    if ((await portFree(p)) && (await portFree(p + 10_000))) ports.push(p);
  }
  if (ports.length < 6) throw new Error("no six free loopback ports (with free +10000 bus ports) for a Redis Cluster");
  return ports;
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let data = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
  });
}

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server at once (SIGKILL: clients see the connection drop, as in a crash). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A throwaway redis-server of the caller's own on a free loopback port, no persistence, so a test
 * can kill and restart it without touching the machine's Redis.
 */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const exited = (proc: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", () => resolve());
    });

  const launch = async () => {
    const proc = spawn(REDIS_SERVER_BIN, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], {
      stdio: "ignore",
    });
    child = proc;
    let failed: Error | undefined;
    proc.once("error", (err) => {
      failed = err;
    });
    for (let i = 0; i < 100; i += 1) {
      if (failed) throw failed;
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode} (port ${port} taken?)`);
      if (await pong(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };

  const kill = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc) return;
    proc.kill(signal);
    await exited(proc);
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => kill("SIGKILL"),
    restart: async () => {
      await kill("SIGKILL");
      await launch();
    },
    stop: () => kill("SIGTERM"),
  };
}

/**
 * A throwaway redis-server on a free loopback port, and free ports for a Redis Cluster: the bench's
 * and the tests' (test/support/redis-server.ts re-exports this file).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { Socket } from "node:net";
import { freePort, freeRange } from "./ports";

export { freePort };

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? "/usr/bin/redis-server";

/** Six free loopback ports whose cluster-bus ports (+10000) are free too. */
export async function sixPorts(): Promise<number[]> {
  const base = await freeRange(6, 10_000);
  return Array.from({ length: 6 }, (_, i) => base + i);
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

import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureBuilt, ROOT } from "./build";

const run = promisify(execFile);

export interface Pm2Process {
  name: string;
  pid: number;
  pm_id: number;
  pm2_env: { status: string; restart_time: number; PORT?: string };
}

/** True while something accepts TCP connections on the loopback port. */
export function listening(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A base port with `count` consecutive free ports above it. */
async function freeRange(count: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const taken = await Promise.all(Array.from({ length: count }, (_, k) => listening(base + k)));
    if (!taken.some(Boolean)) return base;
  }
  throw new Error("no free port range");
}

export interface Cluster {
  /** nginx, the one origin. */
  url: string;
  port: number;
  apiPort: number;
  gatewayPorts: number[];
  runDir: string;
  env: NodeJS.ProcessEnv;
  pm2(...args: string[]): Promise<string>;
  processes(): Promise<Pm2Process[]>;
  stop(): Promise<void>;
}

/**
 * The cluster exactly as `npm run cluster` starts it (bin/cluster.sh: migrations, pm2 with the
 * ecosystem file, nginx), on free ports, with its own PM2_HOME and run directory.
 */
export async function startCluster(options: { databaseUrl: string; redisUrl: string; gateways?: number }): Promise<Cluster> {
  await ensureBuilt();
  const gateways = options.gateways ?? 3;
  const base = await freeRange(gateways + 2);
  const runDir = mkdtempSync(join(tmpdir(), "wsac-cluster-"));
  chmodSync(runDir, 0o755);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    GATEWAYS: String(gateways),
    CLUSTER_PORT: String(base),
    API_PORT: String(base + 1),
    CLUSTER_RUN_DIR: join(runDir, "nginx"),
    PM2_HOME: join(runDir, "pm2"),
    DATA_DIR: join(runDir, "data"),
    CLUSTER_SKIP_BUILD: "1",
    LOG_LEVEL: "warn",
    NODE_ENV: "development",
  };
  const pm2 = async (...args: string[]) => (await run(process.execPath, [join(ROOT, "node_modules/pm2/bin/pm2"), ...args], { cwd: ROOT, env })).stdout;
  const stop = async () => {
    await run("bash", [join(ROOT, "bin/cluster.sh"), "stop"], { cwd: ROOT, env });
  };
  try {
    await run("bash", [join(ROOT, "bin/cluster.sh"), "start"], { cwd: ROOT, env, timeout: 120_000 });
  } catch (err) {
    const logs = await pm2("logs", "--nostream", "--lines", "40").catch(() => "");
    await stop().catch(() => undefined);
    throw new Error(`cluster did not start: ${(err as Error).message}\n${logs}`);
  }
  return {
    url: `http://127.0.0.1:${base}`,
    port: base,
    apiPort: base + 1,
    gatewayPorts: Array.from({ length: gateways }, (_, i) => base + 2 + i),
    runDir,
    env,
    pm2,
    processes: async () => JSON.parse(await pm2("jlist")) as Pm2Process[],
    async stop() {
      await stop();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** An http.Agent whose connections leave from the given loopback address (nginx hashes on it). */
export const fromAddress = (localAddress: string) => new Agent({ localAddress, keepAlive: false });

/** A JSON request from a chosen source address, with any headers (fetch cannot pick the address). */
export function requestFrom(
  localAddress: string,
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        localAddress,
        headers: { ...(payload ? { "content-type": "application/json" } : {}), ...headers },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** How many sockets each gateway holds now, from its own /metrics. */
export async function socketsPerGateway(ports: number[]): Promise<number[]> {
  return Promise.all(
    ports.map(async (port) => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "");
      const m = /^gateway_connected_sockets(?:\{[^}]*\})? (\d+)/m.exec(text);
      return m ? Number(m[1]) : -1;
    }),
  );
}

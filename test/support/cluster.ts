import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freeRange } from "../../bench/lib/ports";
import { ensureBuilt, ROOT } from "./build";
import { readMetric } from "./metrics";
import { eventually } from "./waits";

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

export interface Cluster {
  /** nginx, the one origin. */
  url: string;
  port: number;
  apiPort: number;
  gatewayPorts: number[];
  /** /metrics listeners (METRICS_PORT): the api replicas', then each gateway's; the webhook worker's port (health and metrics). */
  metricsPorts: { api: number[]; gateways: number[]; worker: number };
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
export async function startCluster(options: { databaseUrl: string; redisUrl?: string; redisClusterNodes?: string; gateways?: number; env?: Record<string, string> }): Promise<Cluster> {
  await ensureBuilt();
  const gateways = options.gateways ?? 3;
  const base = await freeRange(gateways + 2);
  const apiInstances = 2;
  // The api replicas' and gateways' /metrics, then the webhook worker's one port.
  const metricsBase = await freeRange(apiInstances + gateways + 1);
  const runDir = mkdtempSync(join(tmpdir(), "wsac-cluster-"));
  chmodSync(runDir, 0o755);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: options.databaseUrl,
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...(options.redisClusterNodes ? { REDIS_CLUSTER_NODES: options.redisClusterNodes } : {}),
    GATEWAYS: String(gateways),
    CLUSTER_PORT: String(base),
    API_PORT: String(base + 1),
    API_INSTANCES: String(apiInstances),
    CLUSTER_METRICS_PORT: String(metricsBase),
    CLUSTER_RUN_DIR: join(runDir, "nginx"),
    PM2_HOME: join(runDir, "pm2"),
    DATA_DIR: join(runDir, "data"),
    CLUSTER_SKIP_BUILD: "1",
    LOG_LEVEL: "warn",
    // The tests register every user from loopback; the limit itself is tested in the integration tests.
    REGISTER_MAX_PER_IP: "1000",
    // A large event budget, so that one client can ask for more than the kernel's socket buffers on
    // both sides of nginx hold (several MiB) within seconds: the slow-reader test needs that.
    SOCKET_EVENT_BURST: "4000",
    NODE_ENV: "development",
    ...options.env,
  };
  const pm2 = async (...args: string[]) => (await run(process.execPath, [join(ROOT, "node_modules/pm2/bin/pm2"), ...args], { cwd: ROOT, env })).stdout;
  const stop = async () => {
    await run("bash", [join(ROOT, "bin/cluster.sh"), "stop"], { cwd: ROOT, env });
  };
  const metricsPorts = {
    api: Array.from({ length: apiInstances }, (_, i) => metricsBase + i),
    gateways: Array.from({ length: gateways }, (_, i) => metricsBase + apiInstances + i),
    worker: metricsBase + apiInstances + gateways,
  };
  try {
    await run("bash", [join(ROOT, "bin/cluster.sh"), "start"], { cwd: ROOT, env, timeout: 120_000 });
    // `cluster start` is ready once nginx answers through one api replica; the tests need every
    // process, so wait for each one's metrics listener too (the last thing a process opens).
    const every = [...metricsPorts.api, ...metricsPorts.gateways, metricsPorts.worker];
    await eventually(async () => (await Promise.all(every.map((port) => listening(port)))).every(Boolean), 30_000, "every process's metrics listener");
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
    metricsPorts,
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
): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
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
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** How many sockets each gateway holds now, from its own /metrics listener. */
export function socketsPerGateway(ports: number[]): Promise<number[]> {
  return Promise.all(ports.map((port) => readMetric(`http://127.0.0.1:${port}`, "gateway_connected_sockets")));
}

import { MemoryPresence } from "../../shared/presence/memory-presence";
import { memoryReplies, type QueryReplies } from "../../shared/control/queries";
import pino, { type Logger } from "pino";
import type { Api } from "../../api/app";
import { startApiServer } from "../../api/server";
import { connectServices, type Role, type Services } from "../../bin/services";
import { startStandaloneServer } from "../../bin/standalone";
import type { Gateway, GatewayLimits } from "../../gateway/app";
import { startGatewayServer } from "../../gateway/server";
import type { Config } from "../../shared/config";
import { type ControlBus, createMemoryBus } from "../../shared/control/bus";
import { lateOutlet } from "../../shared/delivery/outlets";
import type { RedisClient } from "../../shared/redis/clients";
import { testConfig } from "./config";
import { createTestDatabase, type TestDatabase } from "./database";
import type { RedisCluster } from "./redis-cluster";
import { type RedisServer, startRedisServer } from "./redis-server";
import { SocketClients } from "./socket-client";
import { eventually } from "./waits";

/**
 * The fixtures run what production runs: `connectServices` (the composition root's connections)
 * and the start function of each deployable, on free loopback ports. Without Redis, processes in
 * one test share one in-memory control bus (as npm start's single process does).
 */

interface Options {
  database: TestDatabase;
  /** With Redis: the role's own clients and a Redis control bus, as a separate process would have. */
  redisUrl?: string;
  /** With a Redis Cluster instead (REDIS_CLUSTER_NODES): rooms on sharded pub/sub. */
  redisClusterNodes?: string;
  /** Without Redis: the in-memory bus to share (default a new one). */
  bus?: ControlBus;
  env?: Record<string, string>;
  logger?: Logger;
}

const silent = () => pino({ level: "silent" });

/** A logger that keeps every line it logs (parsed), so that a test can wait for one (`logged`). */
export function recordingLogger(level: pino.Level = "info"): { logger: Logger; lines: Record<string, unknown>[]; logged(msg: string): boolean } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines, logged: (msg) => lines.some((l) => l.msg === msg) };
}

/** The services of one process: connected from the config with Redis, else the test database and an in-memory bus. */
async function servicesFor(o: Options, config: Config, logger: Logger, role: Role): Promise<Omit<Services, "close"> & { close(): Promise<void> }> {
  if (o.redisUrl || o.redisClusterNodes) return connectServices(config, logger, { role });
  const bus = o.bus ?? createMemoryBus();
  return { db: o.database.db, pool: o.database.pool, bus, presence: presenceOf(bus), outlet: outletOf(bus), replies: repliesOf(bus), close: async () => (o.bus ? undefined : bus.close()) };
}

/** Without Redis, the api shares a bus's outlet with the gateway on that bus (npm start's one process does the same). */
const outlets = new WeakMap<ControlBus, ReturnType<typeof lateOutlet>>();
function outletOf(bus: ControlBus): ReturnType<typeof lateOutlet> {
  let outlet = outlets.get(bus);
  if (!outlet) outlets.set(bus, (outlet = lateOutlet()));
  return outlet;
}

/** Without Redis, the processes that share a bus share the gateways' replies to the server API. */
const replies = new WeakMap<ControlBus, QueryReplies>();
function repliesOf(bus: ControlBus): QueryReplies {
  let kept = replies.get(bus);
  if (!kept) replies.set(bus, (kept = memoryReplies()));
  return kept;
}

/** Without Redis, the processes that share a bus share presence too, as npm start's one process does. */
const presences = new WeakMap<ControlBus, MemoryPresence>();
function presenceOf(bus: ControlBus): MemoryPresence {
  let presence = presences.get(bus);
  if (!presence) presences.set(bus, (presence = new MemoryPresence()));
  return presence;
}

const configFor = (o: Options, role: Role, extra: Record<string, string> = {}) =>
  testConfig(
    {
      DATABASE_URL: o.database.url,
      ...(o.redisUrl ? { REDIS_URL: o.redisUrl } : {}),
      ...(o.redisClusterNodes ? { REDIS_CLUSTER_NODES: o.redisClusterNodes } : {}),
      ...extra,
      ...o.env,
    },
    role,
  );

export interface ApiFixture {
  url: string;
  config: Config;
  api: Api;
  bus: ControlBus;
  redis: RedisClient | undefined;
  close(): Promise<void>;
}

/** One api process (startApiServer) on a free loopback port. */
export async function startApi(o: Options): Promise<ApiFixture> {
  const config = configFor(o, "api");
  const logger = o.logger ?? silent();
  const services = await servicesFor(o, config, logger, "api");
  const server = await startApiServer({ ...services, config, logger, port: 0, host: "127.0.0.1" });
  return {
    url: server.url,
    config,
    api: server.api,
    bus: services.bus,
    redis: services.redis,
    async close() {
      await server.close();
      await services.close();
    },
  };
}

export interface GatewayFixture {
  url: string;
  config: Config;
  gateway: Gateway;
  bus: ControlBus;
  close(): Promise<void>;
}

/** One gateway process (startGatewayServer) on a free loopback port, named `id` (GATEWAY_ID). */
export async function startGateway(o: Options & { limits?: Partial<GatewayLimits>; id?: string }): Promise<GatewayFixture> {
  const config = configFor(o, "gateway", { GATEWAY_ID: o.id ?? `gw-${Math.random().toString(36).slice(2, 8)}` });
  const logger = o.logger ?? silent();
  const services = await servicesFor(o, config, logger, "gateway");
  const server = await startGatewayServer({ ...services, config, logger, limits: o.limits, port: 0, host: "127.0.0.1" });
  if (!o.redisUrl && !o.redisClusterNodes) outletOf(services.bus).attach(server.gateway.outlet);
  return {
    url: server.url,
    config,
    gateway: server.gateway,
    bus: services.bus,
    async close() {
      await server.close();
      await services.close();
    },
  };
}

/** The api and `count` gateways in this process, on Redis and a database of their own. */
export interface InProcessCluster {
  database: TestDatabase;
  api: ApiFixture;
  gateways: GatewayFixture[];
  sockets: SocketClients;
  /** Resolves when every gateway's /readyz answers `ready` (true: 200, false: 503). */
  allReady(ready?: boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

async function inProcess(target: { redisUrl: string } | { redisClusterNodes: string }, count: number, env: Record<string, string>, stop: () => Promise<void>) {
  const database = await createTestDatabase();
  const api = await startApi({ database, ...target, env });
  const gateways = await Promise.all(Array.from({ length: count }, (_, i) => startGateway({ database, ...target, id: `gw${i + 1}`, env })));
  const allReady = (ready = true, timeoutMs = 10_000) =>
    eventually(async () => (await Promise.all(gateways.map((g) => fetch(`${g.url}/readyz`)))).every((r) => r.ok === ready), timeoutMs, `gateways ${ready ? "ready" : "not ready"}`);
  await allReady(true);
  const sockets = new SocketClients();
  const cluster: InProcessCluster = {
    database,
    api,
    gateways,
    sockets,
    allReady,
    async close() {
      sockets.closeAll();
      await Promise.all(gateways.map((g) => g.close()));
      await api.close();
      await stop();
      await database.drop();
    },
  };
  return cluster;
}

/** On one redis-server of their own (REDIS_URL), which a test may kill and restart. */
export async function startInProcessCluster(count = 3, env: Record<string, string> = {}): Promise<InProcessCluster & { redis: RedisServer }> {
  const redis = await startRedisServer();
  return { ...(await inProcess({ redisUrl: redis.url }, count, env, () => redis.stop())), redis };
}

/** On a Redis Cluster the test started (REDIS_CLUSTER_NODES); the test stops it. */
export function startOnRedisCluster(redisCluster: RedisCluster, count = 3, env: Record<string, string> = {}): Promise<InProcessCluster> {
  return inProcess({ redisClusterNodes: redisCluster.seeds }, count, env, async () => undefined);
}

/** One node as `npm start` runs it (startStandaloneServer): api and gateway on one port, an in-memory bus, a database of its own. */
export interface SingleNode {
  database: TestDatabase;
  bus: ControlBus;
  url: string;
  gateway: Gateway;
  sockets: SocketClients;
  close(): Promise<void>;
}

export async function startSingleNode(options: { env?: Record<string, string>; limits?: Partial<GatewayLimits> } = {}): Promise<SingleNode> {
  const database = await createTestDatabase();
  const bus = createMemoryBus();
  const config = testConfig({ DATABASE_URL: database.url, ...options.env });
  const server = await startStandaloneServer({ config, logger: silent(), services: { db: database.db, pool: database.pool, bus, presence: presenceOf(bus), replies: repliesOf(bus) }, port: 0, host: "127.0.0.1", limits: options.limits });
  const sockets = new SocketClients();
  return {
    database,
    bus,
    url: server.url,
    gateway: server.gateway,
    sockets,
    async close() {
      sockets.closeAll();
      await server.close();
      await bus.close();
      await database.drop();
    },
  };
}

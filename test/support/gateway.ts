import { createServer, type Server } from "node:http";
import express from "express";
import pino from "pino";
import { io as connect, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { createGateway, type Gateway, type GatewayLimits } from "../../gateway/app";
import { type ControlBus, createMemoryBus, createRedisBus } from "../../shared/control-bus";
import type { Db } from "../../shared/db/db";
import { closeServer, listen } from "../../shared/process";
import { type ClientToServerEvents, type HandshakeErrorData, SOCKET_PATH, type ServerToClientEvents } from "../../shared/socket-events";
import { type ApiServer, startApi, testConfig } from "./api-server";
import { createTestDatabase, type TestDatabase } from "./database";
import { type RedisServer, startRedisServer } from "./redis-server";
export { chatWith } from "./http";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface GatewayServer {
  url: string;
  gateway: Gateway;
  server: Server;
  bus: ControlBus;
  close(): Promise<void>;
}

/**
 * One gateway on a free loopback port with its own /healthz, /readyz, /metrics. With `redisUrl`
 * it runs the Redis adapter and, unless a bus is given, its own Redis control-bus subscriber
 * (as a separate gateway process would).
 */
export async function startGateway(options: {
  db: Db;
  bus?: ControlBus;
  redisUrl?: string;
  env?: Record<string, string>;
  limits?: Partial<GatewayLimits>;
  id?: string;
}): Promise<GatewayServer> {
  const config = testConfig({ ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}), ...options.env });
  const logger = pino({ level: "silent" });
  const id = options.id ?? `gw-${Math.random().toString(36).slice(2, 8)}`;
  const ownBus = !options.bus;
  if (!options.bus && !config.redisUrl) throw new Error("startGateway needs a bus or a redisUrl");
  const bus = options.bus ?? createRedisBus({ url: config.redisUrl!, logger, name: id });
  const app = express();
  const server = createServer(app);
  const gateway = createGateway({ httpServer: server, config, db: options.db, bus, logger, gatewayId: id, limits: options.limits });
  app.use(gateway.routes);
  const port = await listen(server, 0, "127.0.0.1");
  return {
    url: `http://127.0.0.1:${port}`,
    gateway,
    server,
    bus,
    async close() {
      await gateway.close();
      await closeServer(server);
      if (ownBus) await bus.close();
    },
  };
}

export type ClientOptions = Partial<ManagerOptions & SocketOptions> & { token?: string; chatId?: string };

/** Every client a test made, so `afterAll` can close them all. */
const clients = new Set<ClientSocket>();

/** A socket.io-client socket as an app makes it (path /ws), WebSocket only and no reconnection unless asked. */
export function client(url: string, options: ClientOptions = {}): ClientSocket {
  const { token, chatId, ...rest } = options;
  const socket: ClientSocket = connect(url, {
    path: SOCKET_PATH,
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: 5_000,
    ...(token !== undefined ? { auth: { token } } : {}),
    ...(chatId !== undefined ? { query: { chat_id: chatId } } : {}),
    ...rest,
  });
  clients.add(socket);
  return socket;
}

export function closeClients(): void {
  for (const socket of clients) socket.disconnect();
  clients.clear();
}

export class ConnectRefused extends Error {
  constructor(
    message: string,
    readonly data: HandshakeErrorData | undefined,
  ) {
    super(message);
  }
}

/** Resolves once connected; rejects with ConnectRefused (the `connect_error` message and data). */
export function connected(socket: ClientSocket): Promise<ClientSocket> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    const ok = () => {
      socket.off("connect_error", bad);
      resolve(socket);
    };
    const bad = (err: Error & { data?: HandshakeErrorData }) => {
      socket.off("connect", ok);
      reject(new ConnectRefused(err.message, err.data));
    };
    socket.once("connect", ok);
    socket.once("connect_error", bad);
  });
}

/** A connected socket, or the test fails with the refusal. */
export const connectClient = (url: string, options: ClientOptions = {}) => connected(client(url, options));

/** The refusal a handshake gets (`connect_error` message and data); fails if it connects. */
export async function refusal(url: string, options: ClientOptions = {}): Promise<{ message: string; data: HandshakeErrorData | undefined }> {
  const socket = client(url, options);
  try {
    await connected(socket);
  } catch (err) {
    if (err instanceof ConnectRefused) return { message: err.message, data: err.data };
    throw err;
  } finally {
    socket.disconnect();
  }
  throw new Error("the handshake was accepted");
}

/** The next `event` on the socket (its first argument), within `timeoutMs`. */
export function nextEvent<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
  timeoutMs = 5_000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on as never);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (arg: Parameters<ServerToClientEvents[E]>[0]) => {
      clearTimeout(timer);
      resolve(arg);
    };
    socket.once(event, on as never);
  });
}

/** Every `event` the socket receives from now on, in order. */
export function collect<E extends keyof ServerToClientEvents>(socket: ClientSocket, event: E): Parameters<ServerToClientEvents[E]>[0][] {
  const seen: Parameters<ServerToClientEvents[E]>[0][] = [];
  socket.on(event, ((arg: Parameters<ServerToClientEvents[E]>[0]) => seen.push(arg)) as never);
  return seen;
}

/** Resolves with the disconnect reason (at once if already disconnected). */
export function disconnected(socket: ClientSocket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    if (socket.disconnected && !socket.active) return resolve("already disconnected");
    const timer = setTimeout(() => reject(new Error(`still connected after ${timeoutMs} ms`)), timeoutMs);
    socket.once("disconnect", (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

/** Polls `condition` until it holds, failing after `timeoutMs` (no fixed sleeps in tests). */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The answer a client event's acknowledgement gets. */
export type Answer<E extends keyof ClientToServerEvents> = Parameters<Parameters<ClientToServerEvents[E]>[1]>[0];

/** Every client event has the same shape: one payload, then the acknowledgement callback. */
type AnyEmit = (event: string, payload: unknown, ack: (answer: unknown) => void) => unknown;

/** An event and its acknowledgement, bounded in time (a lost answer fails the test instead of hanging it). */
export function ask<E extends keyof ClientToServerEvents>(
  socket: ClientSocket,
  event: E,
  payload: Parameters<ClientToServerEvents[E]>[0],
  timeoutMs = 5_000,
): Promise<Answer<E>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${event} within ${timeoutMs} ms`)), timeoutMs);
    // Socket.IO types emit per event name; with a generic event name it cannot pick the overload.
    const emit = socket.emit.bind(socket) as AnyEmit;
    emit(event, payload, (answer) => {
      clearTimeout(timer);
      resolve(answer as Answer<E>);
    });
  });
}


/** The api and `count` gateways in this process, on one Redis of their own and a database of their own. */
export interface InProcessCluster {
  database: TestDatabase;
  redis: RedisServer;
  api: ApiServer;
  gateways: GatewayServer[];
  /** Resolves when every gateway's /readyz answers `ready` (true: 200, false: 503). */
  allReady(ready?: boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startInProcessCluster(count = 3, env: Record<string, string> = {}): Promise<InProcessCluster> {
  const [database, redis] = await Promise.all([createTestDatabase(), startRedisServer()]);
  const api = await startApi({ db: database.db, redisUrl: redis.url, env });
  const gateways = await Promise.all(Array.from({ length: count }, (_, i) => startGateway({ db: database.db, redisUrl: redis.url, id: `gw${i + 1}`, env })));
  const allReady = (ready = true, timeoutMs = 10_000) =>
    eventually(async () => (await Promise.all(gateways.map((g) => fetch(`${g.url}/readyz`)))).every((r) => r.ok === ready), timeoutMs, `gateways ${ready ? "ready" : "not ready"}`);
  await allReady(true);
  return {
    database,
    redis,
    api,
    gateways,
    allReady,
    async close() {
      closeClients();
      await Promise.all(gateways.map((g) => g.close()));
      await api.close();
      await redis.stop();
      await database.drop();
    },
  };
}

/** One node as `npm start` builds it: the api and one gateway on an in-memory bus, a database of their own. */
export interface SingleNode {
  database: TestDatabase;
  bus: ControlBus;
  api: ApiServer;
  gw: GatewayServer;
  close(): Promise<void>;
}

export async function startSingleNode(): Promise<SingleNode> {
  const database = await createTestDatabase();
  const bus = createMemoryBus();
  const api = await startApi({ db: database.db, bus });
  const gw = await startGateway({ db: database.db, bus });
  return {
    database,
    bus,
    api,
    gw,
    async close() {
      closeClients();
      await gw.close();
      await api.close();
      await database.drop();
    },
  };
}

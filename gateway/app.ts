import type { Server as HttpServer } from "node:http";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Router } from "express";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { Server } from "socket.io";
import type { MessageOutlet } from "../shared/delivery/publish";
import type { Config, GatewayLimits } from "../shared/config";
import { LIMITS } from "../shared/contract/views";
import type { ControlBus } from "../shared/control/bus";
import { type Db, pingDb } from "../shared/db/db";
import { healthRoutes } from "../shared/health";
import { MessageLimit } from "../shared/limits/message-limit";
import { createRegistry } from "../shared/metrics";
import { trustProxy, warnUntrustedProxy } from "../shared/proxy";
import { pingRedis } from "../shared/redis/clients";
import { SOCKET_PATH } from "../shared/contract/events";
import { KeyRing, type KeySource, KeySources } from "../shared/auth/keys";
import { TokenVerifier } from "../shared/auth/tokens";
import { authenticate } from "./auth/handshake";
import { originAllowed } from "./auth/origin";
import { followControlBus } from "./control/follow-bus";
import { ReadMarks } from "./chats/read-marks";
import { ChangeLimit } from "../shared/limits/change-limit";
import { publishReadNotice } from "../shared/control/bus";
import { mutedRoom, publishChange } from "../shared/delivery/publish";
import { rooms } from "./socket/rooms";
import { GatewayQueries } from "./control/gateway-queries";
import { WebhookInterest } from "../shared/webhooks/interest";
import { emitWebhook, userKey } from "../shared/webhooks/events";
import type { QueryReplies } from "../shared/control/queries";
import { Membership } from "./chats/membership";
import { OutageReplay } from "./redis/outage-replay";
import { Revocations } from "./sessions/revocations";
import { gatewayMetrics } from "./gateway.metrics";
import { SessionCheck } from "./auth/session-check";
import { RemoteKeys } from "./auth/remote-keys";
import { VerifiedTokens } from "./auth/verified-tokens";
import { PresenceTracker } from "./presence/tracker";
import { MemoryPresence } from "../shared/presence/memory-presence";
import type { PresenceStore } from "../shared/presence/presence";
import { PresenceSnapshots } from "../shared/presence/snapshots";
import { MessageBatch } from "./chats/message-batch";
import { type AdapterClients, type AdapterWiring, wireRedisAdapter } from "./redis/adapter";
import { ExpiryWheel } from "./sessions/expiry-wheel";
import { onConnection } from "./socket/connection";
import { EventBudget } from "./socket/event-budget";
import { InFlightLimit } from "./socket/in-flight";
import { corkUpgrades, WriteBatching } from "./transport/write-batching";
import { RequestRelease } from "./transport/release-request";
import { LoopLag } from "./auth/loop-lag";
import { LocalSockets } from "./socket/local-sockets";
import type { GatewayIo } from "./socket/types";

export type { GatewayLimits };

export interface GatewayOptions {
  /** The server to attach to: Socket.IO takes `/ws/`, its other routes keep working. The caller closes it. */
  httpServer: HttpServer;
  config: Config;
  db: Db;
  /** The pool under `db` (the handshake check uses a named statement on it). */
  pool: Pool;
  /** Control events from the api (revocations, removals, key ids). */
  bus: ControlBus;
  logger: Logger;
  /** The Redis adapter's two clients (the caller makes and closes them); without them rooms are in memory (one process). */
  adapter?: AdapterClients;
  /** Where the gateway's metrics go; default a fresh registry labelled with the gateway id (GATEWAY_ID, else `hostname:pid`). */
  registry?: Registry;
  limits?: Partial<GatewayLimits>;
  /** Who is online where (the services' store); default one in memory, this gateway's alone. */
  presence?: PresenceStore;
  /** Where it answers the server API's questions about its sockets; without it, it does not answer. */
  replies?: QueryReplies;
}

export interface Gateway {
  id: string;
  io: GatewayIo;
  /** Where this gateway publishes `message:new` (publishMessage): npm start's api publishes through it too. */
  outlet: MessageOutlet;
  registry: Registry;
  /** `/healthz`, `/readyz` (database, Redis) and, without METRICS_PORT, `/metrics`, to mount on the gateway's port. */
  routes: Router;
  /** Sizes of what the gateway keeps per socket, room and session (the soak bench watches them for leaks). */
  stats(): Record<string, number>;
  /**
   * Refuses new handshakes, drops every socket without a disconnect packet (clients reconnect,
   * elsewhere behind a balancer) and closes the adapter. The HTTP server and the Redis clients
   * stay open: they belong to the caller.
   */
  close(): Promise<void>;
}

/**
 * The Socket.IO gateway on `httpServer` at `/ws`: authenticated handshakes, chat rooms shared
 * across instances through the Redis adapter, control events from the api applied to this
 * instance's own sockets, token expiry enforced by one shared wheel.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const { config, db, pool, bus } = options;
  const id = config.gatewayId ?? `${hostname()}:${process.pid}`;
  const logger = options.logger.child({ gateway: id });
  const log = logger.child({ module: "gateway" });
  const limits: GatewayLimits = { ...config.gatewayLimits, ...options.limits };
  const registry = options.registry ?? createRegistry({ service: "gateway", gateway: id });
  // Public keys (and HS256 secrets) only: the configured ones, then the api's JWKS when JWKS_URL is set.
  const remoteKeys = config.tokens.jwksUrl ? new RemoteKeys({ url: config.tokens.jwksUrl, logger }) : undefined;
  const keySources: KeySource[] = [new KeyRing(config.tokens.verifying), ...(remoteKeys ? [remoteKeys] : [])];
  const verifier = new TokenVerifier(new KeySources(keySources));
  remoteKeys?.start();
  let closing = false;
  let wiring: AdapterWiring | undefined;

  const metrics = gatewayMetrics(registry, () =>
    wiring ? { bus: bus.link() !== "down", adapter_pub: wiring.pub.status === "ready", adapter_sub: wiring.sub.status === "ready" } : {},
  );

  const corsOrigins = config.corsOrigins;
  const lag = limits.handshakesMaxLagMs > 0 ? new LoopLag() : undefined;
  const io: GatewayIo = new Server(options.httpServer, {
    path: SOCKET_PATH,
    serveClient: false,
    maxHttpBufferSize: LIMITS.bodyBytes,
    pingInterval: config.socketPing.interval * 1000,
    pingTimeout: config.socketPing.timeout * 1000,
    transports: ["polling", "websocket"],
    cors: corsOrigins.length > 0 ? { origin: corsOrigins.includes("*") ? "*" : [...corsOrigins], maxAge: 600 } : undefined,
    allowRequest: (req, callback) => {
      if (!originAllowed(req, corsOrigins)) return callback(null, false);
      // Overloaded: the connected clients' pongs first. Refused before any work (a WebSocket upgrade
      // gets 400, polling 403, with the body "unavailable"); clients retry after their back-off.
      if (lag && lag.ms() > limits.handshakesMaxLagMs) {
        metrics.handshakes.inc({ result: "lagging" });
        return callback("unavailable", false);
      }
      callback(null, true);
    },
  });
  const uncorkUpgrades = corkUpgrades(options.httpServer, SOCKET_PATH);
  const writes = new WriteBatching();
  const requests = new RequestRelease(io);

  if (options.adapter) {
    wiring = wireRedisAdapter({ clients: options.adapter, logger, onPublishFailed: () => metrics.publishFailures.inc() });
    io.adapter(wiring.adapter);
    const adapterWiring = wiring;
    io.of("/").adapter.on("delete-room", (room: string) => adapterWiring.forgetRoom(room));
  }

  const replay = wiring ? new OutageReplay(io, db, logger) : undefined;
  const local = new LocalSockets();
  const revocations = new Revocations(local, metrics);
  const membership = new Membership(local);
  // Every message:new of this gateway goes out through publishMessage on this outlet (in-process
  // and, with Redis, through the adapter to every gateway), noted by the replay when there is one.
  const outlet: MessageOutlet = replay ? replay.outlet() : io;
  const wheel = new ExpiryWheel({
    warnSeconds: limits.expiryWarningSeconds,
    onWarn: (socket) => socket.emit("session:expiring", { expires_at: new Date(socket.data.exp * 1000).toISOString() }),
    onExpire: (socket) => revocations.end(socket, "expired"),
  });

  const sessions = new SessionCheck(pool);
  // A moved read position goes to the chat's room (but not to users who block the reader) and, through
  // the control bus, to the reader's own sockets outside that room on every gateway.
  const reads = new ReadMarks(db, (read) => {
    const payload = { chat_id: read.chatId, user_id: read.userId, message_id: read.position };
    publishChange(outlet, read.chatId, read.userId, "message:read", payload);
    void publishReadNotice(bus, payload);
  });
  const verified = new VerifiedTokens(verifier);
  const presenceStore = options.presence ?? new MemoryPresence();
  io.use(
    authenticate({
      sessions,
      logger,
      handshakes: metrics.handshakes,
      perIpPerMinute: limits.handshakesPerIpPerMinute,
      maxPending: limits.handshakesPending,
      trustProxy: trustProxy(config.trustProxy),
      seeRequest: warnUntrustedProxy(config.trustProxy, (message) => log.warn(message)),
      closing: () => closing,
      roomSubscribed: (room) => wiring?.roomSubscribed(room) ?? Promise.resolve(),
      verified,
    }),
  );
  io.on(
    "connection",
    onConnection({
      io,
      outlet,
      db,
      sessions,
      messages: new MessageBatch(db, { pool }),
      presence: new PresenceSnapshots(presenceStore),
      verified,
      revocations,
      membership,
      local,
      wheel,
      metrics,
      roomSubscribed: (room) => wiring?.roomSubscribed(room) ?? Promise.resolve(),
      ctx: { log: logger.child({ module: "gateway:events" }), events: metrics.events, inFlight: new InFlightLimit(limits.eventsInFlight) },
      log: logger.child({ module: "gateway:limits" }),
      budget: new EventBudget({ burst: limits.eventBurst, perSecond: limits.eventsPerSecond, maxRefusedInARow: limits.maxRefusedInARow }),
      // Counted in Redis on the adapter's publisher (a plain command client), so every gateway and the api count together.
      messageLimit: new MessageLimit(config.messages, options.adapter?.pub, true),
      writes,
      requests,
      joinAnswerMaxBytes: limits.joinAnswerMaxBytes,
      maxBufferedBytes: config.socketMaxBufferedBytes,
      reads,
      changeLimit: new ChangeLimit(config.changes, options.adapter?.pub),
      editWindow: config.changes.editWindow,
    }),
  );

  wiring?.onSubscriberLink((up, cause) => replay?.link("adapter", up, cause));
  // Unique per start: a restarted gateway's entries are the old process's until swept.
  // user.online / user.offline: tracked cluster-wide only while some webhook endpoint wants them.
  let tracker: PresenceTracker | undefined;
  const userInterest = config.presence ? new WebhookInterest(db, ["user.online", "user.offline"], logger, () => tracker?.trackAllUsers()) : undefined;
  const users = userInterest && {
    wanted: () => userInterest.now,
    changed: (userId: string, online: boolean) =>
      void emitWebhook(db, online ? "user.online" : "user.offline", userKey(userId), { user_id: userId }).catch((err: Error) =>
        log.warn({ err: err.message, user: userId }, "recording a user's presence webhook event failed"),
      ),
  };
  const presence = config.presence
    ? (tracker = new PresenceTracker({ io, store: presenceStore, gateway: `${id}:${randomBytes(4).toString("hex")}`, logger, countOnlyAbove: config.presenceCountOnlyAbove, ...(users ? { users } : {}) }))
    : undefined;
  const queries = options.replies
    ? new GatewayQueries({ gateway: id, io, local, replies: options.replies, messages: metrics.messages, logger })
    : undefined;
  const unfollow = followControlBus({
    bus,
    db,
    sockets: () => [...io.of("/").sockets.values()],
    revocations,
    membership,
    logger,
    closing: () => closing,
    onLink: (up) => replay?.link("bus", up),
    onKeysPublished: (kids) => remoteKeys?.expect(kids),
    onQuery: (event) => void queries?.answer(event.id, event.query),
    onUserNotice: ({ user_id, notice }) => {
      for (const socket of local.ofUser(user_id)) {
        if (notice.event === "invite:new") socket.emit("invite:new", notice.payload);
        else if (notice.event === "invite:closed") socket.emit("invite:closed", notice.payload);
        else if (notice.event === "chat:added") socket.emit("chat:added", notice.payload);
        // Sockets in the chat's room heard it from the room.
        else if (!socket.rooms.has(rooms.chat(notice.payload.chat_id))) socket.emit("message:read", notice.payload);
      }
    },
    onBlockChanged: ({ user_id, blocked_id, blocked }) => {
      for (const socket of local.ofUser(user_id)) {
        if (blocked) void socket.join(mutedRoom(blocked_id));
        else void socket.leave(mutedRoom(blocked_id));
      }
    },
  });

  const checks: Record<string, () => Promise<boolean>> = { database: () => pingDb(db) };
  // Ready once it can verify a token: a gateway on JWKS_URL only after the api's keys arrived.
  if (remoteKeys && config.tokens.verifying.length === 0) checks.keys = async () => remoteKeys.ready;
  if (wiring) {
    const { pub, sub } = wiring;
    checks.redis = async () => sub.status === "ready" && bus.link() !== "down" && (await pingRedis(pub));
  }

  return {
    id,
    io,
    outlet,
    registry,
    routes: healthRoutes(checks, registry, { metrics: config.metricsPort === undefined }),
    stats: () => ({
      sockets: io.of("/").sockets.size,
      rooms: io.of("/").adapter.rooms.size,
      expiryEntries: wheel.size,
      recentRevocations: revocations.size,
      recentRemovals: membership.size,
      verifiedTokens: verified.size,
      ...(remoteKeys ? { jwksKeys: remoteKeys.size } : {}),
      ...local.sizes(),
      ...(replay ? replay.sizes() : {}),
      ...presence?.stats(),
    }),
    async close() {
      if (closing) return;
      closing = true;
      unfollow();
      uncorkUpgrades();
      remoteKeys?.close();
      lag?.close();
      // Before the sockets drop: their entries stay in the store for the grace (see PresenceTracker.close).
      presence?.close();
      userInterest?.close();
      queries?.close();
      wheel.stop();
      revocations.clear();
      membership.clear();
      // Every engine connection is dropped (no Socket.IO disconnect packet, so clients reconnect),
      // then the adapter unsubscribes; bounded in case Redis does not answer.
      io.engine.close();
      let timer: NodeJS.Timeout | undefined;
      const adapterClosed = Promise.resolve(io.of("/").adapter.close()).catch(() => undefined);
      await Promise.race([adapterClosed, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]).finally(() => clearTimeout(timer));
      log.info("gateway closed");
    },
  };
}

import { MemoryPresence } from "../shared/presence/memory-presence";
import type { PresenceStore } from "../shared/presence/presence";
import { PresenceSnapshots } from "../shared/presence/snapshots";
import cors from "cors";
import express, { type Express } from "express";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { Config } from "../shared/config";
import type { ControlBus } from "../shared/control/bus";
import type { MessageOutlet } from "../shared/delivery/publish";
import { type Db, pingDb } from "../shared/db/db";
import { healthRoutes } from "../shared/health";
import { createRegistry } from "../shared/metrics";
import { MessageLimit } from "../shared/limits/message-limit";
import { trustProxy, warnUntrustedProxy } from "../shared/proxy";
import { createLimiter } from "../shared/limits/rate-limit";
import { pingRedis, type RedisClient } from "../shared/redis/clients";
import { KeyRing } from "../shared/auth/keys";
import { TokenSigner, TokenVerifier } from "../shared/auth/tokens";
import { accountsRoutes } from "./accounts/accounts.routes";
import { PasswordHasher } from "./accounts/password";
import { StrengthChecker } from "./accounts/strength-worker";
import { ChatLimits } from "./chats/chats.limits";
import { chatsRoutes } from "./chats/chats.routes";
import { blocksRoutes } from "./moderation/blocks.routes";
import { ChangeLimit } from "../shared/limits/change-limit";
import { docsRoutes } from "./documents/documents.routes";
import { jwksRoutes } from "./keys/jwks.routes";
import { requireAuth } from "./http/auth";
import { jsonBody } from "./http/body";
import { httpMetrics, requestLogger } from "./http/observability";
import { errorHandler, notFound } from "./http/problem";
import { DeviceTokens, DEVICE_HEADER } from "./sessions/devices";
import { LoginLimiter } from "./sessions/login-limiter";
import { sessionsRoutes } from "./sessions/sessions.routes";
import { serverRoutes } from "./server-api/server.routes";
import { memoryReplies, type QueryReplies } from "../shared/control/queries";

export interface ApiOptions {
  config: Config;
  db: Db;
  logger: Logger;
  /** The control bus the gateways listen on (memory in one process, Redis in a cluster). */
  bus: ControlBus;
  /** Where messages posted over HTTP go to the chats' sockets (publishMessage). */
  outlet: MessageOutlet;
  /** Rate limits shared by the replicas (logins, registrations, posting, chats, invites); without it they are per process. */
  redis?: RedisClient;
  /** Defaults to a fresh registry with process metrics. */
  registry?: Registry;
  /** Who is online where, as the gateways wrote it (the services' store); default an empty one in memory. */
  presence?: PresenceStore;
  /** Where gateways answer the server API's questions (user presence, stats); default none answer. */
  replies?: QueryReplies;
}

export interface Api {
  app: Express;
  registry: Registry;
  /** Computes the timing-equaliser hash so the first unknown-user login is not faster. */
  warmUp(): Promise<void>;
  /** The `kid`s of the public keys /.well-known/jwks.json publishes. */
  publishedKids(): string[];
  /** Stops the password-strength worker; db, Redis and bus belong to the caller. */
  close(): Promise<void>;
}

/**
 * The account and chat HTTP service. Owns no connections: the caller passes db, Redis and bus
 * and closes them. Every HTTP call of /openapi.json (accounts, sessions, chats, invites, keys),
 * plus /healthz, /readyz, /metrics, the generated /openapi.json and /asyncapi.json, /docs and the
 * demo page at /.
 */
export function createApi(options: ApiOptions): Api {
  const { config, db, logger, bus, redis } = options;
  const registry = options.registry ?? createRegistry({ service: "api" });
  const signing = config.tokens.signing;
  if (!signing) throw new Error("the api needs a signing key (a config loaded for the gateway role has none)");
  if (signing.alg === "HS256") {
    logger.warn("access tokens are signed with HS256 (JWT_SECRET): every gateway holds the key that signs them; set JWT_PRIVATE_KEY for ES256");
  }
  const tokens = new TokenSigner(signing, config.accessTokenTtl);
  const verifier = new TokenVerifier(new KeyRing(config.tokens.verifying));
  const hasher = new PasswordHasher(config.argon2);
  const strength = new StrengthChecker();
  const limiter = new LoginLimiter(config.login, redis);
  const registrations = createLimiter({ keyPrefix: "wsac:register:ip", points: config.register.maxPerIp, duration: config.register.window, redis });
  const messageLimit = new MessageLimit(config.messages, redis);
  const loginOutcomes = new Counter({ name: "login_attempts_total", help: "Login attempts by outcome", labelNames: ["outcome"] as const, registers: [registry] });
  const auth = requireAuth({ db, tokens: verifier });

  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", trustProxy(config.trustProxy));
  app.set("query parser", "simple");
  app.use(requestLogger(logger));
  const untrusted = warnUntrustedProxy(config.trustProxy, (message) => logger.warn(message));
  app.use((req, _res, next) => {
    untrusted(req);
    next();
  });
  app.use(httpMetrics(registry));
  app.use((_req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Cache-Control", "no-store");
    next();
  });
  if (config.corsOrigins.length > 0) {
    // Apps on other origins keep no cookie of ours: they read the device value from the header and send it back.
    app.use(cors({ origin: config.corsOrigins.includes("*") ? "*" : [...config.corsOrigins], maxAge: 600, exposedHeaders: [DEVICE_HEADER, "Retry-After"] }));
  }
  const checks: Record<string, () => Promise<boolean>> = { database: () => pingDb(db) };
  if (redis) checks.redis = () => pingRedis(redis);
  app.use(healthRoutes(checks, registry, { metrics: config.metricsPort === undefined }));
  const sessionDeps = { db, tokens, hasher, limiter, bus, sessionTtl: config.sessionTtl, maxSessionsPerUser: config.maxSessionsPerUser, loginOutcomes };
  const presence = new PresenceSnapshots(options.presence ?? new MemoryPresence());
  // Before the user API's 16 KiB body parser: the server API parses its own (a batch is larger).
  app.use(serverRoutes({ db, bus, outlet: options.outlet, presence, replies: options.replies ?? memoryReplies(), sessions: sessionDeps, allowPrivateWebhooks: config.webhooks.allowPrivate, logger: logger.child({ module: "server-api" }) }));
  app.use(jsonBody);
  app.use(accountsRoutes({ db, hasher, strength, registrations, limiter, loginOutcomes, bus, requireAuth: auth }));
  app.use(sessionsRoutes({ ...sessionDeps, requireAuth: auth, devices: new DeviceTokens(signing.signWith) }));
  const chatLimits = new ChatLimits(config, redis);
  const changeLimit = new ChangeLimit(config.changes, redis);
  app.use(chatsRoutes({ db, bus, outlet: options.outlet, messageLimit, limits: chatLimits, presence, changeLimit, editWindow: config.changes.editWindow, requireAuth: auth }));
  app.use(blocksRoutes({ db, bus, requireAuth: auth }));
  const published = [...config.tokens.verifying.filter((k) => k.kid === signing.kid && k.alg === "ES256"), ...config.tokens.extraPublic];
  app.use(jwksRoutes(published));
  app.use(docsRoutes());
  app.use(notFound);
  app.use(errorHandler(logger.child({ module: "api" })));

  return {
    app,
    registry,
    warmUp: () => hasher.warmUp(),
    publishedKids: () => published.map((k) => k.kid),
    async close() {
      await strength.close();
      registry.clear();
    },
  };
}

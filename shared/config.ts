import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { z } from "zod";
import { parseDuration } from "./duration";
import { devSigningKeyPem, es256SigningKey, hs256Key, parsePublicKeys, readKeyText, type SigningKey, type TokenKey } from "./auth/keys";

/** Raised for a bad variable; the entry point prints `message` as the one line and exits. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

const MIN_SECRET_BYTES = 32;
/** A Standard Webhooks secret: whsec_ and at least 24 bytes of base64. */
export const WEBHOOK_SECRET_RE = /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/;
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const s = parseDuration(v);
      if (s === undefined) ctx.addIssue({ code: "custom", message: `must be a duration such as 15m or 30d (got "${v}")` });
      return s ?? 0;
    });

/** A duration (seconds) from `min` to `max` seconds. */
const durationWithin = (fallback: string, min: number, max: number) =>
  duration(fallback).refine((s) => s === 0 || (s >= min && s <= max), { message: `must be from ${min}s to ${max}s` });

/** `v` as a whole number from `min` to `max`, or an issue on `ctx`. */
function wholeNumber(v: string, ctx: z.RefinementCtx, min: number, max: number): number {
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) ctx.addIssue({ code: "custom", message: `must be a whole number from ${min} to ${max} (got "${v}")` });
  return n;
}

const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((v, ctx) => wholeNumber(v, ctx, min, max));

/** A whole number from `min` to `max`, or undefined when unset (the caller derives its default). */
const optionalInt = (min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => (v === undefined || v.trim() === "" ? undefined : wholeNumber(v, ctx, min, max)));

const url = (protocols: string[]) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === "") return undefined;
      let ok = false;
      try {
        ok = protocols.includes(new URL(v).protocol);
      } catch {
        ok = false;
      }
      if (!ok) ctx.addIssue({ code: "custom", message: `must be a ${protocols.join(" or ")}// URL` });
      return v;
    });

const list = z
  .string()
  .default("")
  .transform((v) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int(3000, 0, 65_535),
  HOST: z.string().optional(),
  DATABASE_URL: url(["postgres:", "postgresql:"]),
  DATABASE_POOL_MAX: int(10, 1, 1_000),
  REDIS_URL: url(["redis:", "rediss:"]),
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const nodes = v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s));
      if (nodes.length === 0 || nodes.some((m) => !m || Number(m[2]) < 1 || Number(m[2]) > 65_535)) {
        ctx.addIssue({ code: "custom", message: `must be comma-separated host:port seeds of a Redis Cluster (got "${v}")` });
        return undefined;
      }
      return nodes.map((m) => ({ host: m![1]!.replace(/^\[|\]$/g, ""), port: Number(m![2]) }));
    }),
  JWT_PRIVATE_KEY: z.string().optional(),
  JWT_PUBLIC_KEYS: z.string().optional(),
  JWKS_URL: url(["http:", "https:"]),
  JWT_SECRET: z.string().optional(),
  JWT_PREVIOUS_SECRETS: list,
  ACCESS_TOKEN_TTL: duration("15m"),
  SESSION_TTL: duration("30d"),
  CORS_ORIGINS: list,
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  DATA_DIR: z.string().default(".data"),
  TRUST_PROXY: list,
  LOGIN_MAX_FAILURES_PER_ACCOUNT: int(5, 1, 1_000_000),
  LOGIN_MAX_FAILURES_PER_IP: int(50, 1, 1_000_000),
  LOGIN_FAILURE_WINDOW: duration("15m"),
  LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: int(30, 1, 1_000_000),
  ARGON2_MEMORY_KIB: int(65_536, 1024, 4_194_304),
  ARGON2_TIME_COST: int(3, 1, 100),
  ARGON2_PARALLELISM: int(4, 1, 64),
  ARGON2_CONCURRENCY: int(2, 1, 64),
  ARGON2_QUEUE: int(100, 0, 100_000),
  REGISTER_MAX_PER_IP: int(20, 1, 1_000_000),
  REGISTER_WINDOW: duration("15m"),
  MESSAGE_LIMIT_PER_USER: int(60, 1, 1_000_000),
  MESSAGE_LIMIT_WINDOW: duration("10s"),
  CHAT_CREATE_LIMIT_PER_USER: int(20, 1, 1_000_000),
  CHAT_CREATE_LIMIT_WINDOW: duration("1h"),
  INVITE_LIMIT_PER_USER: int(100, 1, 1_000_000),
  INVITE_LIMIT_WINDOW: duration("1h"),
  INVITES_PENDING_MAX: int(100, 1, 1_000_000),
  INVITE_DECLINE_COOLDOWN: duration("24h"),
  CHANGE_LIMIT_PER_USER: int(120, 1, 1_000_000),
  CHANGE_LIMIT_WINDOW: duration("10s"),
  EDIT_WINDOW: duration("48h"),
  MAX_SESSIONS_PER_USER: int(100, 1, 100_000),
  SOCKET_MAX_BUFFERED_BYTES: int(1_048_576, 16_384, 1_073_741_824),
  // At most 60 s: nginx's proxy_read_timeout (75 s, nginx/locations.conf) must outlast the gap between two pings.
  SOCKET_PING_INTERVAL: durationWithin("25s", 5, 60),
  SOCKET_PING_TIMEOUT: durationWithin("20s", 1, 300),
  HANDSHAKE_MAX_PENDING: int(512, 1, 100_000),
  // Unset: a quarter of SOCKET_PING_TIMEOUT (gatewayLimits below).
  HANDSHAKE_MAX_LAG_MS: optionalInt(0, 60_000),
  PRESENCE_COUNT_ONLY_ABOVE: int(1_000, 1, 1_000_000),
  PRESENCE: z.enum(["on", "off"], { message: "must be on or off" }).default("on"),
  SOCKET_EVENT_BURST: int(30, 1, 1_000_000),
  SOCKET_EVENT_RATE: int(10, 1, 1_000_000),
  METRICS_PORT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
      if (!(n >= 1 && n <= 65_535)) ctx.addIssue({ code: "custom", message: `must be a port number from 1 to 65535 (got "${v}")` });
      return n;
    }),
  WEBHOOK_URL: url(["http:", "https:"]),
  WEBHOOK_SECRET: z.string().optional(),
  WEBHOOK_ALLOW_PRIVATE: z.enum(["on", "off"], { message: "must be on or off" }).default("off"),
  WEBHOOK_TIMEOUT: duration("10s"),
  WEBHOOK_CONCURRENCY: int(8, 1, 256),
  WEBHOOK_ENDPOINT_CONCURRENCY: int(4, 1, 256),
  WEBHOOK_RETRY_WINDOW: duration("24h"),
  WEBHOOK_RETRY_MIN: duration("5s"),
  WEBHOOK_RETRY_MAX: duration("1h"),
  GATEWAY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1 to 64 characters of A-Z a-z 0-9 _ . : -")
    .optional(),
});

export type RedisTarget =
  | { readonly kind: "single"; readonly url: string }
  | { readonly kind: "cluster"; readonly nodes: readonly { readonly host: string; readonly port: number }[] };

export interface Config {
  readonly env: "development" | "production" | "test";
  readonly port: number;
  readonly host: string | undefined;
  readonly databaseUrl: string | undefined;
  /**
   * The most PostgreSQL connections this process opens (DATABASE_POOL_MAX, 10). Every gateway and api
   * replica has a pool of its own: their sum must stay under the server's max_connections (100 by
   * default), which 13 gateways of 10 passed in the bench's scale phase.
   */
  readonly databasePoolMax: number;
  /**
   * Where Redis is: one server (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES, rooms on
   * sharded pub/sub); undefined: none (only npm start's single process runs without).
   */
  readonly redis: RedisTarget | undefined;
  /** How access tokens are signed (the api) and verified (everyone): see TokenKeys. */
  readonly tokens: TokenKeys;
  readonly accessTokenTtl: number;
  readonly sessionTtl: number;
  readonly corsOrigins: readonly string[];
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly dataDir: string;
  /** Express `trust proxy` values; empty trusts no proxy. */
  readonly trustProxy: readonly string[];
  /**
   * Password guesses: failures per account from unknown devices, per device that has logged in to
   * the account before, and per address, over `failureWindow`; and every attempt per account
   * (successes too) over the same window, which bounds the argon2 work one account can cause.
   */
  readonly login: { readonly maxFailuresPerAccount: number; readonly maxFailuresPerIp: number; readonly failureWindow: number; readonly maxAttemptsPerAccount: number };
  readonly argon2: {
    readonly memoryCost: number;
    readonly timeCost: number;
    readonly parallelism: number;
    /** Hashes computed at once; the others wait in a queue of at most `queue`, beyond which calls get 503. */
    readonly concurrency: number;
    readonly queue: number;
  };
  /** `POST /register` attempts per client address per window, across replicas. */
  readonly register: { readonly maxPerIp: number; readonly window: number };
  /** Messages one user may post per window, over HTTP and sockets together, across the cluster. */
  readonly messages: { readonly maxPerUser: number; readonly window: number };
  /** Chats one user may create per window, across the cluster. */
  readonly chatCreation: { readonly maxPerUser: number; readonly window: number };
  /**
   * Edits, deletions, reactions and reports one user may make per window, over HTTP and sockets
   * together, across the cluster; and how long after sending a message its sender may edit it (seconds).
   */
  readonly changes: { readonly maxPerUser: number; readonly window: number; readonly editWindow: number };
  /**
   * Invites one user may send per window (a chat created with N members sends N), across the
   * cluster; pending invites one user may hold; how long a declined invite keeps its inviter from
   * inviting the same user to the same chat again (seconds).
   */
  readonly invites: { readonly maxPerUser: number; readonly window: number; readonly maxPendingPerInvitee: number; readonly declineCooldown: number };
  /** Active sessions per user; a login beyond this revokes the oldest. */
  readonly maxSessionsPerUser: number;
  /** What may wait to be sent to one socket before the gateway disconnects it (bytes). */
  readonly socketMaxBufferedBytes: number;
  /**
   * Engine.IO's heartbeat (seconds): a ping every `interval`, and a socket whose pong has not come
   * `timeout` after it is closed. Each costs about 100 µs of gateway CPU (docs/scale.md): a longer
   * interval keeps more idle connections per core, and notices a vanished client later.
   */
  readonly socketPing: { readonly interval: number; readonly timeout: number };
  /** Above this many users online, a chat's presence goes out as counts only. */
  readonly presenceCountOnlyAbove: number;
  /** Off: gateways neither track nor announce presence (its queries answer 0 online). */
  readonly presence: boolean;
  /** Every client event spends from its socket's bucket: `burst` at once, refilled at `perSecond`. */
  readonly socketEvents: { readonly burst: number; readonly perSecond: number };
  /** Every limit a gateway applies, the event budget above included: their defaults are here and nowhere else. */
  readonly gatewayLimits: GatewayLimits;
  /** When set, /metrics is served on this port (loopback unless HOST says otherwise) instead of the main one. */
  readonly metricsPort: number | undefined;
  /** Webhook delivery (the worker) and the endpoint of WEBHOOK_URL. Durations in seconds. */
  readonly webhooks: WebhookConfig;
  /** Names a gateway instance in logs, metrics and Redis; default `hostname:pid`. */
  readonly gatewayId: string | undefined;
}

/**
 * The token keys of this process. The api signs with `signing`; everyone verifies with
 * `verifying` (the signer's own public half, JWT_PUBLIC_KEYS, the HS256 secrets) and, when set,
 * the keys published at `jwksUrl`. A gateway's config has no `signing` key.
 */
export interface WebhookConfig {
  /** WEBHOOK_URL and WEBHOOK_SECRET: one endpoint for every event, besides those of the server API. */
  readonly envEndpoint: { readonly url: string; readonly secret: string } | undefined;
  /** Whether endpoints may resolve to loopback, private or link-local addresses (off: SSRF guard). */
  readonly allowPrivate: boolean;
  readonly timeout: number;
  readonly concurrency: number;
  /** At most this many deliveries in flight per endpoint and worker process: a slow endpoint keeps the rest. */
  readonly perEndpoint: number;
  readonly retryWindow: number;
  readonly retryMin: number;
  readonly retryMax: number;
}

export interface TokenKeys {
  readonly signing: SigningKey | undefined;
  readonly verifying: readonly TokenKey[];
  readonly jwksUrl: string | undefined;
  /** Public keys the api publishes at /.well-known/jwks.json besides its signer's (the previous or next key). */
  readonly extraPublic: readonly TokenKey[];
}

/** What one gateway allows each socket and each client address (tests and the bench override some). */
export interface GatewayLimits {
  /**
   * Every client event spends from its socket's bucket: a burst, then a steady rate
   * (SOCKET_EVENT_BURST and SOCKET_EVENT_RATE). A `chat:join` with `after` costs one more per 10 rows it returns.
   */
  readonly eventBurst: number;
  readonly eventsPerSecond: number;
  /** Events refused in a row after which the socket is disconnected. */
  readonly maxRefusedInARow: number;
  /** Events of one socket that run at once (the rest wait their turn). */
  readonly eventsInFlight: number;
  /** `chat:join {after}` answers stop short of this many bytes of messages. */
  readonly joinAnswerMaxBytes: number;
  /** Handshakes per client address per minute, per gateway. */
  readonly handshakesPerIpPerMinute: number;
  /**
   * Handshakes one gateway works on at once (HANDSHAKE_MAX_PENDING); past it a handshake is refused
   * `unavailable` at once, before its token is verified, and the client retries after its back-off.
   */
  readonly handshakesPending: number;
  /**
   * New transports are refused while the gateway's event loop lags more than this (ms;
   * HANDSHAKE_MAX_LAG_MS, 0 = never): its connected clients' pongs come first. Clients retry after
   * their back-off. Unset, a quarter of the pong's time-out (SOCKET_PING_TIMEOUT: 20 s → 5,000 ms):
   * a lag that eats that much of a pong's slack is worth shedding new work for, a shorter one is not
   * (at 1 s, the scale run's storm refused 825–1,958 returning clients that each then waited a
   * back-off, and no survivor's loop came near the time-out; docs/scale.md).
   */
  readonly handshakesMaxLagMs: number;
  /** `session:expiring` this many seconds before the token's `exp`. */
  readonly expiryWarningSeconds: number;
}

/**
 * Which process reads the config: the key rules differ (only the api may hold a private key; a
 * tool such as migrate needs no key at all, nor does the webhook worker).
 */
export type ConfigRole = "api" | "gateway" | "standalone" | "worker" | "tool";

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Read `<cwd>/.env` under the environment (the environment wins). Default true. */
  dotenv?: boolean;
  /** Default "standalone" (api and gateway in one process, as npm start and the tools). */
  role?: ConfigRole;
}

function readDotenv(cwd: string): Record<string, string> {
  try {
    return parseDotenv(readFileSync(resolve(cwd, ".env")));
  } catch {
    return {};
  }
}

type Parsed = z.infer<typeof schema>;

/** A key variable's value as keys, or a ConfigError naming the variable. */
function keyVariable<T>(variable: string, value: string, cwd: string, parse: (text: string) => T): T {
  try {
    return parse(readKeyText(value, cwd));
  } catch (err) {
    throw new ConfigError(variable, (err as Error).message);
  }
}

/**
 * The token keys for `role`. The api (and npm start's one process) signs with JWT_PRIVATE_KEY
 * (ES256), else JWT_SECRET (HS256), else, outside production, a key generated once into the data
 * dir. A gateway must hold no private key: it verifies with JWT_PUBLIC_KEYS, the api's JWKS_URL
 * or, for HS256 deployments, JWT_SECRET.
 */
function tokenKeys(e: Parsed, role: ConfigRole, cwd: string, dataDir: string): TokenKeys {
  const secrets = [e.JWT_SECRET, ...e.JWT_PREVIOUS_SECRETS].filter((s): s is string => s !== undefined);
  const extraPublic = e.JWT_PUBLIC_KEYS ? keyVariable("JWT_PUBLIC_KEYS", e.JWT_PUBLIC_KEYS, cwd, parsePublicKeys) : [];
  let signing: SigningKey | undefined;
  if (role === "tool" || role === "worker") {
    // Neither signs nor verifies.
  } else if (role === "gateway") {
    if (e.JWT_PRIVATE_KEY) throw new ConfigError("JWT_PRIVATE_KEY", "must not be set for a gateway: gateways verify with public keys only (JWT_PUBLIC_KEYS or JWKS_URL)");
    if (extraPublic.length === 0 && !e.JWKS_URL && secrets.length === 0) {
      throw new ConfigError("JWKS_URL", "or JWT_PUBLIC_KEYS is required for a gateway: the public keys to verify tokens with (or JWT_SECRET for HS256)");
    }
  } else if (e.JWT_PRIVATE_KEY) {
    signing = keyVariable("JWT_PRIVATE_KEY", e.JWT_PRIVATE_KEY, cwd, es256SigningKey);
  } else if (e.JWT_SECRET) {
    signing = hs256Key(e.JWT_SECRET);
  } else if (e.NODE_ENV === "production") {
    throw new ConfigError("JWT_PRIVATE_KEY", "is required with NODE_ENV=production: an ES256 private key (PEM, or a file holding it), or JWT_SECRET for HS256");
  } else {
    const dev = devSigningKeyPem(dataDir);
    try {
      signing = es256SigningKey(dev.pem);
    } catch (err) {
      throw new ConfigError("JWT_PRIVATE_KEY", `is unset and ${dev.file} ${(err as Error).message}: delete that file to have a new key generated, or set JWT_PRIVATE_KEY`);
    }
  }
  const verifying = [...(signing && signing.alg === "ES256" ? [signing] : []), ...extraPublic, ...secrets.map(hs256Key)];
  return Object.freeze({
    signing,
    // Verification never needs the private half.
    verifying: Object.freeze(verifying.map((k) => Object.freeze({ kid: k.kid, alg: k.alg, key: k.key }))),
    jwksUrl: e.JWKS_URL,
    extraPublic: Object.freeze(extraPublic),
  });
}

/** Reads the environment (plus `.env`) once, validates it and returns a frozen Config. Throws ConfigError. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const raw = { ...(options.dotenv === false ? {} : readDotenv(cwd)), ...(options.env ?? process.env) };
  // Empty strings mean "unset" so that `FOO=` in .env takes the default.
  const cleaned = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "environment");
    const message = issue.code === "invalid_value" || issue.code === "invalid_type" ? `is invalid: ${issue.message}` : issue.message;
    throw new ConfigError(variable, message);
  }
  const e = parsed.data;
  const dataDir = resolve(cwd, e.DATA_DIR);

  for (const [name, secret] of [["JWT_SECRET", e.JWT_SECRET], ...e.JWT_PREVIOUS_SECRETS.map((s) => ["JWT_PREVIOUS_SECRETS", s])] as const) {
    if (secret !== undefined && Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
      throw new ConfigError(name, `must be at least ${MIN_SECRET_BYTES} bytes long`);
    }
  }
  if (e.NODE_ENV === "production") {
    if (e.ARGON2_MEMORY_KIB < 19_456) throw new ConfigError("ARGON2_MEMORY_KIB", "must be at least 19456 with NODE_ENV=production");
  }
  if (e.REDIS_URL && e.REDIS_CLUSTER_NODES) throw new ConfigError("REDIS_CLUSTER_NODES", "and REDIS_URL are both set: set one (a Redis Cluster, or one Redis)");
  if (e.SESSION_TTL < e.ACCESS_TOKEN_TTL) throw new ConfigError("SESSION_TTL", "must not be shorter than ACCESS_TOKEN_TTL");
  if (e.WEBHOOK_URL && !e.WEBHOOK_SECRET) throw new ConfigError("WEBHOOK_SECRET", "is required with WEBHOOK_URL (whsec_ and at least 24 base64 bytes; the receiver verifies with it)");
  if (e.WEBHOOK_SECRET !== undefined && !WEBHOOK_SECRET_RE.test(e.WEBHOOK_SECRET)) {
    throw new ConfigError("WEBHOOK_SECRET", "must be whsec_ followed by at least 24 bytes in base64 (e.g. whsec_$(openssl rand -base64 32))");
  }
  if (e.WEBHOOK_RETRY_MAX < e.WEBHOOK_RETRY_MIN) throw new ConfigError("WEBHOOK_RETRY_MAX", "must not be shorter than WEBHOOK_RETRY_MIN");

  const role = options.role ?? "standalone";
  const tokens = tokenKeys(e, role, cwd, dataDir);
  // /metrics tells anyone who asks the process's load, its users' activity and its versions.
  // (The webhook worker has no public port: its one port serves /metrics beside /healthz.)
  if (e.NODE_ENV === "production" && role !== "tool" && role !== "worker" && e.METRICS_PORT === undefined) {
    throw new ConfigError("METRICS_PORT", "is required with NODE_ENV=production: /metrics is served on a port of its own, never on the public one");
  }

  const config: Config = {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    redis: e.REDIS_CLUSTER_NODES
      ? Object.freeze({ kind: "cluster" as const, nodes: Object.freeze(e.REDIS_CLUSTER_NODES) })
      : e.REDIS_URL
        ? Object.freeze({ kind: "single" as const, url: e.REDIS_URL })
        : undefined,
    tokens,
    accessTokenTtl: e.ACCESS_TOKEN_TTL,
    sessionTtl: e.SESSION_TTL,
    corsOrigins: Object.freeze(e.CORS_ORIGINS),
    logLevel: e.LOG_LEVEL,
    dataDir,
    trustProxy: Object.freeze(e.TRUST_PROXY),
    login: Object.freeze({
      maxFailuresPerAccount: e.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      maxFailuresPerIp: e.LOGIN_MAX_FAILURES_PER_IP,
      failureWindow: e.LOGIN_FAILURE_WINDOW,
      maxAttemptsPerAccount: e.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT,
    }),
    argon2: Object.freeze({
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      concurrency: e.ARGON2_CONCURRENCY,
      queue: e.ARGON2_QUEUE,
    }),
    register: Object.freeze({ maxPerIp: e.REGISTER_MAX_PER_IP, window: e.REGISTER_WINDOW }),
    messages: Object.freeze({ maxPerUser: e.MESSAGE_LIMIT_PER_USER, window: e.MESSAGE_LIMIT_WINDOW }),
    chatCreation: Object.freeze({ maxPerUser: e.CHAT_CREATE_LIMIT_PER_USER, window: e.CHAT_CREATE_LIMIT_WINDOW }),
    changes: Object.freeze({ maxPerUser: e.CHANGE_LIMIT_PER_USER, window: e.CHANGE_LIMIT_WINDOW, editWindow: e.EDIT_WINDOW }),
    invites: Object.freeze({
      maxPerUser: e.INVITE_LIMIT_PER_USER,
      window: e.INVITE_LIMIT_WINDOW,
      maxPendingPerInvitee: e.INVITES_PENDING_MAX,
      declineCooldown: e.INVITE_DECLINE_COOLDOWN,
    }),
    maxSessionsPerUser: e.MAX_SESSIONS_PER_USER,
    socketMaxBufferedBytes: e.SOCKET_MAX_BUFFERED_BYTES,
    socketPing: Object.freeze({ interval: e.SOCKET_PING_INTERVAL, timeout: e.SOCKET_PING_TIMEOUT }),
    presenceCountOnlyAbove: e.PRESENCE_COUNT_ONLY_ABOVE,
    presence: e.PRESENCE === "on",
    socketEvents: Object.freeze({ burst: e.SOCKET_EVENT_BURST, perSecond: e.SOCKET_EVENT_RATE }),
    gatewayLimits: Object.freeze({
      eventBurst: e.SOCKET_EVENT_BURST,
      eventsPerSecond: e.SOCKET_EVENT_RATE,
      maxRefusedInARow: 100,
      eventsInFlight: 4,
      joinAnswerMaxBytes: 256 * 1024,
      handshakesPerIpPerMinute: 600,
      handshakesPending: e.HANDSHAKE_MAX_PENDING,
      handshakesMaxLagMs: e.HANDSHAKE_MAX_LAG_MS ?? Math.round(e.SOCKET_PING_TIMEOUT * 250),
      expiryWarningSeconds: 30,
    }),
    metricsPort: e.METRICS_PORT,
    gatewayId: e.GATEWAY_ID,
    webhooks: Object.freeze({
      envEndpoint: e.WEBHOOK_URL && e.WEBHOOK_SECRET ? Object.freeze({ url: e.WEBHOOK_URL, secret: e.WEBHOOK_SECRET }) : undefined,
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE === "on",
      timeout: e.WEBHOOK_TIMEOUT,
      concurrency: e.WEBHOOK_CONCURRENCY,
      perEndpoint: e.WEBHOOK_ENDPOINT_CONCURRENCY,
      retryWindow: e.WEBHOOK_RETRY_WINDOW,
      retryMin: e.WEBHOOK_RETRY_MIN,
      retryMax: e.WEBHOOK_RETRY_MAX,
    }),
  };
  return Object.freeze(config);
}

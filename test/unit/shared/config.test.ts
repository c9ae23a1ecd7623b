import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { ConfigError, type ConfigRole, loadConfig } from "../../../shared/config";
import { es256SigningKey } from "../../../shared/auth/keys";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "wsac-config-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const load = (env: Record<string, string>, cwd = tempDir(), role?: ConfigRole) => loadConfig({ env, cwd, ...(role ? { role } : {}) });
const failure = (env: Record<string, string>, role?: ConfigRole) => {
  try {
    load(env, tempDir(), role);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error("expected a ConfigError");
};

describe("configuration", () => {
  it("takes the contract's defaults", () => {
    const c = load({});
    expect(c.port).toBe(3000);
    expect(c.accessTokenTtl).toBe(15 * 60);
    expect(c.sessionTtl).toBe(30 * 86_400);
    expect(c.logLevel).toBe("info");
    expect(c.databaseUrl).toBeUndefined();
    expect(c.databasePoolMax).toBe(10);
    expect(c.redis).toBeUndefined();
    expect(c.corsOrigins).toEqual([]);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("names the variable in one line when a value is bad", () => {
    expect(failure({ PORT: "eighty" })).toMatch(/^Invalid configuration: PORT .*eighty/);
    expect(failure({ ACCESS_TOKEN_TTL: "soon" })).toMatch(/^Invalid configuration: ACCESS_TOKEN_TTL must be a duration/);
    expect(failure({ DATABASE_URL: "mysql://x" })).toMatch(/^Invalid configuration: DATABASE_URL/);
    expect(failure({ DATABASE_POOL_MAX: "0" })).toMatch(/^Invalid configuration: DATABASE_POOL_MAX/);
    expect(load({ DATABASE_POOL_MAX: "4" }).databasePoolMax).toBe(4);
    expect(failure({ REDIS_URL: "not a url" })).toMatch(/^Invalid configuration: REDIS_URL/);
    expect(failure({ LOG_LEVEL: "loud" })).toMatch(/^Invalid configuration: LOG_LEVEL/);
    expect(failure({ NODE_ENV: "staging" })).toMatch(/^Invalid configuration: NODE_ENV/);
    expect(failure({ SESSION_TTL: "1m", ACCESS_TOKEN_TTL: "15m" })).toMatch(/SESSION_TTL/);
    for (const msg of [failure({ PORT: "x" }), failure({ SESSION_TTL: "x" })]) expect(msg).not.toContain("\n");
  });

  it("refuses to start the api in production without a signing key, naming the variable", () => {
    for (const role of ["api", "standalone"] as const) {
      expect(failure({ NODE_ENV: "production" }, role)).toMatch(/^Invalid configuration: JWT_PRIVATE_KEY is required with NODE_ENV=production/);
    }
    expect(failure({ NODE_ENV: "production", JWT_SECRET: "short" }, "api")).toMatch(/JWT_SECRET must be at least 32 bytes/);
    // HS256 remains an option for existing deployments.
    expect(load({ NODE_ENV: "production", METRICS_PORT: "9464", JWT_SECRET: "x".repeat(32) }, tempDir(), "api").tokens.signing?.alg).toBe("HS256");
    expect(load({ NODE_ENV: "production", METRICS_PORT: "9464", JWT_PRIVATE_KEY: privatePem() }, tempDir(), "api").tokens.signing?.alg).toBe("ES256");
  });

  it("refuses a gateway that holds a private key, or has nothing to verify with", () => {
    expect(failure({ JWT_PRIVATE_KEY: privatePem(), JWKS_URL: "http://api:3100/.well-known/jwks.json" }, "gateway")).toMatch(/^Invalid configuration: JWT_PRIVATE_KEY must not be set for a gateway/);
    for (const env of ["development", "production"]) expect(failure({ NODE_ENV: env }, "gateway")).toMatch(/^Invalid configuration: JWKS_URL or JWT_PUBLIC_KEYS is required for a gateway/);
    const gw = load({ NODE_ENV: "production", METRICS_PORT: "9464", JWKS_URL: "http://api:3100/.well-known/jwks.json" }, tempDir(), "gateway");
    expect(gw.tokens.signing).toBeUndefined();
    expect(gw.tokens.jwksUrl).toBe("http://api:3100/.well-known/jwks.json");
    expect(failure({ JWKS_URL: "ftp://x" }, "gateway")).toMatch(/^Invalid configuration: JWKS_URL/);
  });

  it("reads keys as PEM, PEM with \\n escapes, a JWK Set or a file, and says what is wrong with a bad one", () => {
    const pem = privatePem();
    const key = es256SigningKey(pem);
    const publicPem = key.key.export({ format: "pem", type: "spki" }).toString();
    const cwd = tempDir();
    writeFileSync(join(cwd, "signing.pem"), pem);
    writeFileSync(join(cwd, "public.pem"), publicPem);
    expect(load({ JWT_PRIVATE_KEY: "signing.pem" }, cwd, "api").tokens.signing?.kid).toBe(key.kid);
    expect(load({ JWT_PRIVATE_KEY: pem.replace(/\n/g, "\\n") }, cwd, "api").tokens.signing?.kid).toBe(key.kid);
    const jwks = JSON.stringify({ keys: [{ ...key.key.export({ format: "jwk" }), kid: key.kid, alg: "ES256", use: "sig" }] });
    for (const value of ["public.pem", publicPem, jwks]) expect(load({ JWT_PUBLIC_KEYS: value }, cwd, "gateway").tokens.verifying.map((k) => k.kid)).toEqual([key.kid]);
    expect(failure({ JWT_PRIVATE_KEY: "/no/such/file" }, "api")).toMatch(/^Invalid configuration: JWT_PRIVATE_KEY is neither a PEM key nor a readable file/);
    const ed = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    expect(failure({ JWT_PRIVATE_KEY: ed }, "api")).toMatch(/^Invalid configuration: JWT_PRIVATE_KEY is an Ed25519 key/);
    expect(failure({ JWT_PUBLIC_KEYS: pem }, "gateway")).toMatch(/^Invalid configuration: JWT_PUBLIC_KEYS holds a private key/);
    expect(failure({ JWT_PUBLIC_KEYS: JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0", kid: "x" }] }) }, "gateway")).toMatch(/^Invalid configuration: JWT_PUBLIC_KEYS holds keys that are not ES256/);
    for (const msg of [failure({ JWT_PRIVATE_KEY: "/no/such/file" }, "api"), failure({ JWT_PUBLIC_KEYS: pem }, "gateway")]) expect(msg).not.toContain("\n");
  });

  it("refuses /metrics on the public port in production (no METRICS_PORT), but not for a tool", () => {
    for (const role of ["api", "gateway", "standalone"] as const) {
      const keys: Record<string, string> = role === "gateway" ? { JWKS_URL: "http://api:3100/.well-known/jwks.json" } : { JWT_PRIVATE_KEY: privatePem() };
      expect(failure({ NODE_ENV: "production", ...keys }, role)).toMatch(/^Invalid configuration: METRICS_PORT is required with NODE_ENV=production/);
    }
    expect(load({ NODE_ENV: "production" }, tempDir(), "tool").metricsPort).toBeUndefined();
    expect(load({ NODE_ENV: "development" }, tempDir(), "api").metricsPort).toBeUndefined();
  });

  it("refuses weak argon2 memory in production", () => {
    expect(failure({ NODE_ENV: "production", JWT_SECRET: "x".repeat(40), ARGON2_MEMORY_KIB: "4096" })).toMatch(/ARGON2_MEMORY_KIB/);
  });

  it("generates a development ES256 key once into the data dir and reuses it", () => {
    const cwd = tempDir();
    const first = loadConfig({ env: {}, cwd }).tokens.signing!;
    const second = loadConfig({ env: {}, cwd }).tokens.signing!;
    expect(first.alg).toBe("ES256");
    expect(second.kid).toBe(first.kid);
    const file = join(cwd, ".data", "jwt-private-key.pem");
    expect(es256SigningKey(readFileSync(file, "utf8")).kid).toBe(first.kid);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // A tool (migrate) neither signs nor needs a key.
    expect(loadConfig({ env: { NODE_ENV: "production" }, cwd: tempDir(), role: "tool" }).tokens.signing).toBeUndefined();
  });

  it("refuses a damaged development key file instead of signing with something else", () => {
    for (const content of ["", "\n", "not a key"]) {
      const cwd = tempDir();
      mkdirSync(join(cwd, ".data"));
      writeFileSync(join(cwd, ".data", "jwt-private-key.pem"), content);
      expect(() => loadConfig({ env: {}, cwd })).toThrow(/^Invalid configuration: JWT_PRIVATE_KEY /);
    }
  });

  it("takes the limits of the contract and their settings", () => {
    const c = load({});
    expect(c.maxSessionsPerUser).toBe(100);
    expect(c.socketMaxBufferedBytes).toBe(1_048_576);
    expect(c.metricsPort).toBeUndefined();
    expect(c.messages).toEqual({ maxPerUser: 60, window: 10 });
    expect(c.register).toEqual({ maxPerIp: 20, window: 900 });
    expect(c.argon2).toMatchObject({ concurrency: 2, queue: 100 });
    const set = load({ MAX_SESSIONS_PER_USER: "5", METRICS_PORT: "9464", SOCKET_MAX_BUFFERED_BYTES: "65536", ARGON2_QUEUE: "0" });
    expect([set.maxSessionsPerUser, set.metricsPort, set.socketMaxBufferedBytes, set.argon2.queue]).toEqual([5, 9464, 65_536, 0]);
    expect(failure({ METRICS_PORT: "0" })).toMatch(/^Invalid configuration: METRICS_PORT/);
    expect(failure({ MAX_SESSIONS_PER_USER: "0" })).toMatch(/^Invalid configuration: MAX_SESSIONS_PER_USER/);
    expect(failure({ SOCKET_MAX_BUFFERED_BYTES: "100" })).toMatch(/^Invalid configuration: SOCKET_MAX_BUFFERED_BYTES/);
    // The heartbeat: Socket.IO's own defaults, and bounds.
    expect(c.socketPing).toEqual({ interval: 25, timeout: 20 });
    expect(load({ SOCKET_PING_INTERVAL: "1m", SOCKET_PING_TIMEOUT: "30s" }).socketPing).toEqual({ interval: 60, timeout: 30 });
    expect(failure({ SOCKET_PING_INTERVAL: "2s" })).toMatch(/^Invalid configuration: SOCKET_PING_INTERVAL/);
    expect(failure({ SOCKET_PING_INTERVAL: "1h" })).toMatch(/^Invalid configuration: SOCKET_PING_INTERVAL/);
    expect(failure({ SOCKET_PING_TIMEOUT: "soon" })).toMatch(/^Invalid configuration: SOCKET_PING_TIMEOUT/);
    // The lag bound on new transports: a quarter of the pong's time-out unless set (0: never).
    expect(c.gatewayLimits.handshakesMaxLagMs).toBe(5_000);
    expect(load({ SOCKET_PING_TIMEOUT: "60s" }).gatewayLimits.handshakesMaxLagMs).toBe(15_000);
    expect(load({ HANDSHAKE_MAX_LAG_MS: "1000", SOCKET_PING_TIMEOUT: "60s" }).gatewayLimits.handshakesMaxLagMs).toBe(1_000);
    expect(load({ HANDSHAKE_MAX_LAG_MS: "0" }).gatewayLimits.handshakesMaxLagMs).toBe(0);
    expect(failure({ HANDSHAKE_MAX_LAG_MS: "soon" })).toMatch(/^Invalid configuration: HANDSHAKE_MAX_LAG_MS/);
    expect(failure({ HANDSHAKE_MAX_LAG_MS: "70000" })).toMatch(/^Invalid configuration: HANDSHAKE_MAX_LAG_MS/);
  });

  it("takes one Redis or a Redis Cluster, never both", () => {
    expect(load({ REDIS_URL: "redis://10.0.0.1:6379" }).redis).toEqual({ kind: "single", url: "redis://10.0.0.1:6379" });
    expect(load({ REDIS_CLUSTER_NODES: " 10.0.0.1:7001, redis-2:7002 ,[::1]:7003" }).redis).toEqual({
      kind: "cluster",
      nodes: [
        { host: "10.0.0.1", port: 7001 },
        { host: "redis-2", port: 7002 },
        { host: "::1", port: 7003 },
      ],
    });
    expect(failure({ REDIS_URL: "redis://a:1", REDIS_CLUSTER_NODES: "a:7001" })).toMatch(/^Invalid configuration: REDIS_CLUSTER_NODES and REDIS_URL are both set/);
    for (const bad of ["a", "a:", "a:0", "a:70000", "a:1;b:2", ":7001"]) expect(failure({ REDIS_CLUSTER_NODES: bad })).toMatch(/^Invalid configuration: REDIS_CLUSTER_NODES /);
  });

  it("reads .env under the environment, the environment winning", () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, ".env"), "PORT=4100\nLOG_LEVEL=debug\n");
    const c = loadConfig({ env: { PORT: "4200" }, cwd });
    expect(c.port).toBe(4200);
    expect(c.logLevel).toBe("debug");
  });

  it("keeps previous HS256 secrets verifying for rotation", () => {
    const c = load({ JWT_SECRET: "a".repeat(32), JWT_PREVIOUS_SECRETS: `${"b".repeat(32)},${"c".repeat(40)}` });
    expect(c.tokens.verifying.map((k) => k.alg)).toEqual(["HS256", "HS256", "HS256"]);
    expect(failure({ JWT_SECRET: "a".repeat(32), JWT_PREVIOUS_SECRETS: "tiny" })).toMatch(/JWT_PREVIOUS_SECRETS/);
  });
});

function privatePem(): string {
  return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

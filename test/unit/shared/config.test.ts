import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../shared/config";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "wsac-config-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const load = (env: Record<string, string>, cwd = tempDir()) => loadConfig({ env, cwd });
const failure = (env: Record<string, string>) => {
  try {
    load(env);
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
    expect(c.redis).toBeUndefined();
    expect(c.corsOrigins).toEqual([]);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("names the variable in one line when a value is bad", () => {
    expect(failure({ PORT: "eighty" })).toMatch(/^Invalid configuration: PORT .*eighty/);
    expect(failure({ ACCESS_TOKEN_TTL: "soon" })).toMatch(/^Invalid configuration: ACCESS_TOKEN_TTL must be a duration/);
    expect(failure({ DATABASE_URL: "mysql://x" })).toMatch(/^Invalid configuration: DATABASE_URL/);
    expect(failure({ REDIS_URL: "not a url" })).toMatch(/^Invalid configuration: REDIS_URL/);
    expect(failure({ LOG_LEVEL: "loud" })).toMatch(/^Invalid configuration: LOG_LEVEL/);
    expect(failure({ NODE_ENV: "staging" })).toMatch(/^Invalid configuration: NODE_ENV/);
    expect(failure({ SESSION_TTL: "1m", ACCESS_TOKEN_TTL: "15m" })).toMatch(/SESSION_TTL/);
    for (const msg of [failure({ PORT: "x" }), failure({ SESSION_TTL: "x" })]) expect(msg).not.toContain("\n");
  });

  it("refuses a missing or short JWT_SECRET in production", () => {
    expect(failure({ NODE_ENV: "production" })).toMatch(/JWT_SECRET is required/);
    expect(failure({ NODE_ENV: "production", JWT_SECRET: "short" })).toMatch(/JWT_SECRET must be at least 32 bytes/);
    const ok = load({ NODE_ENV: "production", JWT_SECRET: "x".repeat(32) });
    expect(ok.jwtSecrets).toEqual(["x".repeat(32)]);
  });

  it("refuses weak argon2 memory in production", () => {
    expect(failure({ NODE_ENV: "production", JWT_SECRET: "x".repeat(40), ARGON2_MEMORY_KIB: "4096" })).toMatch(/ARGON2_MEMORY_KIB/);
  });

  it("generates a development secret once into the data dir and reuses it", () => {
    const cwd = tempDir();
    const first = loadConfig({ env: {}, cwd }).jwtSecrets[0]!;
    const second = loadConfig({ env: {}, cwd }).jwtSecrets[0]!;
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(second).toBe(first);
    const file = join(cwd, ".data", "jwt-secret");
    expect(readFileSync(file, "utf8").trim()).toBe(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("refuses an empty or short development secret file instead of signing with it", () => {
    for (const content of ["", "\n", "short-secret"]) {
      const cwd = tempDir();
      mkdirSync(join(cwd, ".data"));
      writeFileSync(join(cwd, ".data", "jwt-secret"), content);
      expect(() => loadConfig({ env: {}, cwd })).toThrow(/^Invalid configuration: JWT_SECRET .*jwt-secret holds fewer than 32 bytes/);
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

  it("keeps previous signing keys for rotation", () => {
    const c = load({ JWT_SECRET: "a".repeat(32), JWT_PREVIOUS_SECRETS: `${"b".repeat(32)},${"c".repeat(40)}` });
    expect(c.jwtSecrets).toEqual(["a".repeat(32), "b".repeat(32), "c".repeat(40)]);
    expect(failure({ JWT_SECRET: "a".repeat(32), JWT_PREVIOUS_SECRETS: "tiny" })).toMatch(/JWT_PREVIOUS_SECRETS/);
  });
});

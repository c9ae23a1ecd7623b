import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, ROOT } from "../support/build";
import { createTestDatabase, type TestDatabase } from "../support/database";

const run = promisify(execFile);

/** Runs a compiled entry point as npm scripts do; resolves with its exit code and output. */
async function entry(script: string, env: Record<string, string>, args: string[] = []) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !["DATABASE_URL", "REDIS_URL", "REDIS_CLUSTER_NODES", "JWT_SECRET", "JWT_PRIVATE_KEY", "JWT_PUBLIC_KEYS", "JWKS_URL", "METRICS_PORT", "NODE_ENV", "PORT"].includes(k)));
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, "dist/bin", script), ...args], { cwd: ROOT, env: { ...clean, LOG_LEVEL: "warn", ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}

let tdb: TestDatabase;
beforeAll(async () => {
  await ensureBuilt();
  tdb = await createTestDatabase({ migrate: false });
}, 120_000);
afterAll(async () => {
  await tdb?.drop();
});

describe("entry points", () => {
  it("stop at start with one clear line naming a bad variable", async () => {
    for (const [script, env, variable] of [
      ["standalone.js", { ACCESS_TOKEN_TTL: "soon" }, "ACCESS_TOKEN_TTL"],
      ["api.js", { PORT: "eighty", DATABASE_URL: tdb.url }, "PORT"],
      ["gateway.js", { DATABASE_URL: "mysql://nope" }, "DATABASE_URL"],
      ["standalone.js", { NODE_ENV: "production" }, "JWT_PRIVATE_KEY"],
      ["api.js", { NODE_ENV: "production", DATABASE_URL: tdb.url, REDIS_URL: "redis://127.0.0.1:6379" }, "JWT_PRIVATE_KEY"],
      ["api.js", { NODE_ENV: "production", JWT_SECRET: "too-short", DATABASE_URL: tdb.url }, "JWT_SECRET"],
      // In production /metrics must have a port of its own.
      ["api.js", { NODE_ENV: "production", JWT_SECRET: "x".repeat(40), DATABASE_URL: tdb.url, REDIS_URL: "redis://127.0.0.1:6379" }, "METRICS_PORT"],
      // Gateways verify with public keys only, and need some.
      ["gateway.js", { NODE_ENV: "production", DATABASE_URL: tdb.url, REDIS_URL: "redis://127.0.0.1:6379" }, "JWKS_URL"],
      ["gateway.js", { DATABASE_URL: tdb.url, REDIS_URL: "redis://127.0.0.1:6379", JWKS_URL: "http://127.0.0.1:1/.well-known/jwks.json", JWT_PRIVATE_KEY: "/dev/null" }, "JWT_PRIVATE_KEY"],
      // Without Redis a gateway would keep its rooms and revocations to itself: only npm start runs so.
      ["gateway.js", { DATABASE_URL: tdb.url, JWKS_URL: "http://127.0.0.1:1/.well-known/jwks.json" }, "REDIS_URL"],
      ["api.js", { DATABASE_URL: tdb.url }, "REDIS_URL"],
      ["gateway.js", { DATABASE_URL: tdb.url, REDIS_URL: "redis://127.0.0.1:6379", REDIS_CLUSTER_NODES: "127.0.0.1:7001" }, "REDIS_CLUSTER_NODES"],
      ["api.js", { DATABASE_URL: tdb.url, REDIS_CLUSTER_NODES: "127.0.0.1:70001,nope" }, "REDIS_CLUSTER_NODES"],
    ] as const) {
      const res = await entry(script, env);
      expect(res.code, `${script} ${JSON.stringify(env)}`).toBe(1);
      const lines = res.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${variable} `));
    }
  }, 90_000); // one node start per case, one after the other: seconds each on a busy machine

  it("npm run migrate applies the migrations to DATABASE_URL, and `down` reverts the latest", async () => {
    const tables = async () =>
      (await sql<{ n: string }>`select tablename as n from pg_tables where schemaname = 'public' and tablename not like 'kysely_%'`.execute(tdb.db)).rows.map((r) => r.n).sort();
    expect(await tables()).toEqual([]);
    expect((await entry("migrate.js", { DATABASE_URL: tdb.url })).code).toBe(0);
    const base = ["chat_members", "chats", "invites", "messages", "refresh_tokens", "server_idempotency", "server_keys", "sessions", "users"];
    const webhookTables = ["webhook_deliveries", "webhook_endpoints", "webhook_events", "webhook_workers"];
    const essentialsTables = ["chat_changes", "message_reactions", "message_reports", "user_blocks"];
    expect(await tables()).toEqual([...base, ...webhookTables, ...essentialsTables].sort());
    expect((await entry("migrate.js", { DATABASE_URL: tdb.url })).code).toBe(0);
    // graphile-worker's schema (the webhook worker's queue) is installed with ours.
    const queue = async () => (await sql<{ n: string }>`select 1 as n from pg_namespace where nspname = 'graphile_worker'`.execute(tdb.db)).rows.length;
    expect(await queue()).toBe(1);
    // The latest migration adds the change log's two indexes; down takes them back, and the tables stay.
    const indexes = async () =>
      (await sql<{ n: string }>`select indexname as n from pg_indexes where tablename = 'chat_changes' and indexname in ('chat_changes_message_idx', 'chat_changes_reader_idx')`.execute(tdb.db)).rows.length;
    expect(await indexes()).toBe(2);
    expect((await entry("migrate.js", { DATABASE_URL: tdb.url }, ["down"])).code).toBe(0);
    expect(await indexes()).toBe(0);
    expect(await tables()).toEqual([...base, ...webhookTables, ...essentialsTables].sort());
    expect(await queue()).toBe(1);
    const missing = await entry("migrate.js", {});
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/DATABASE_URL/);
  });
});

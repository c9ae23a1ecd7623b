import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, ROOT as root } from "../support/build";
import { httpClient, newCredentials } from "../support/http";
import { pidAlive } from "../support/processes";
import { freePort } from "../support/redis-server";
import { eventually } from "../support/waits";
import { WebhookReceiver } from "../support/webhook-receiver";

let dataDir: string;
let port: number;
const children = new Set<ChildProcess>();

/** `npm start` as a newcomer runs it (the compiled entry point), with no DATABASE_URL and no Redis. */
async function start(): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: "warn", NODE_ENV: "development", WEBHOOK_ALLOW_PRIVATE: "on" };
  for (const k of ["DATABASE_URL", "REDIS_URL", "JWT_SECRET"]) delete env[k];
  const child = spawn(process.execPath, ["dist/bin/standalone.js"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d));
  child.stderr!.on("data", (d: Buffer) => (output += d));
  const ready = async () => {
    if (child.exitCode !== null) throw new Error(`standalone exited early (${child.exitCode}): ${output}`);
    return fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
  };
  await eventually(ready, 60_000, "standalone to be ready").catch((err: Error) => {
    throw new Error(`${err.message}: ${output}`);
  });
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once("exit", (code) => r(code)));
}

const postmasterPid = () => {
  const file = join(dataDir, "pg", "postmaster.pid");
  return existsSync(file) ? Number(readFileSync(file, "utf8").split("\n")[0]) : undefined;
};

beforeAll(async () => {
  await ensureBuilt();
  dataDir = mkdtempSync(join(tmpdir(), "wsac-standalone-"));
  chmodSync(dataDir, 0o755);
  port = await freePort();
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  const pid = postmasterPid();
  if (pid && pidAlive(pid)) {
    process.kill(pid, "SIGQUIT");
    await eventually(() => !pidAlive(pid), 5_000, "PostgreSQL to stop").catch(() => undefined);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe("npm start (standalone, embedded PostgreSQL)", () => {
  const creds = newCredentials("standalone");
  let token: string;

  it("serves the api on its port with nothing else running", async () => {
    const child = await start();
    const http = httpClient(`http://127.0.0.1:${port}`);
    expect((await http.post("/register", creds)).status).toBe(201);
    const login = await http.post("/login", { username: creds.username, password: creds.password });
    expect(login.status).toBe(200);
    token = login.body.token;
    expect((await http.as(token).get("/me")).body.user.username).toBe(creds.username);
    child.kill("SIGTERM");
    expect(await exited(child)).toBe(0);
    // A clean stop also stops PostgreSQL.
    const pid = postmasterPid();
    expect(pid === undefined || !pidAlive(pid)).toBe(true);
  }, 90_000);

  it("keeps users and the development secret across a restart", async () => {
    const child = await start();
    const http = httpClient(`http://127.0.0.1:${port}`);
    expect((await http.post("/login", { username: creds.username, password: creds.password })).status).toBe(200);
    expect((await http.as(token).get("/me")).status).toBe(200);
    // Unclean stop: node dies, the PostgreSQL child is orphaned with its lock file.
    child.kill("SIGKILL");
    await exited(child);
    const orphan = postmasterPid();
    expect(orphan && pidAlive(orphan)).toBe(true);
  }, 90_000);

  it("starts again after a kill -9 and still has the data", async () => {
    const child = await start();
    const http = httpClient(`http://127.0.0.1:${port}`);
    expect((await http.post("/login", { username: creds.username, password: creds.password })).status).toBe(200);
    child.kill("SIGINT");
    expect(await exited(child)).toBe(0);
  }, 90_000);

  it("makes, lists and revokes server keys with npm run server-key against the running embedded PostgreSQL, and delivers webhooks from its own worker", async () => {
    const child = await start();
    const pg = postmasterPid();
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "warn" };
    delete env.DATABASE_URL;
    const command = (...args: string[]) => spawnSync(process.execPath, ["dist/bin/server-key.js", ...args], { cwd: root, env, encoding: "utf8" });
    const made = command("create", "--name", "standalone", "--scope", "moderate,read");
    expect(made.status).toBe(0);
    const key = made.stdout.trim().split("\n").at(-1)!;
    expect(key).toMatch(/^wsk_[A-Za-z0-9_-]{43}$/);
    // Attached to npm start's PostgreSQL: the same server still runs.
    expect(postmasterPid()).toBe(pg);
    const server = httpClient(`http://127.0.0.1:${port}`, key);
    expect((await server.get("/server/v1/webhooks")).status).toBe(200);

    const receiver = await new WebhookReceiver().start();
    try {
      const hook = await server.post("/server/v1/webhooks", { url: receiver.url, events: ["user.registered"] });
      receiver.secret = hook.body.secret;
      const someone = newCredentials("hooked");
      expect((await httpClient(`http://127.0.0.1:${port}`).post("/register", someone)).status).toBe(201);
      await eventually(() => receiver.received.length === 1, 15_000, "user.registered from npm start's worker");
      expect(receiver.received[0]).toMatchObject({ type: "user.registered", verified: true, data: { user: { username: someone.username } } });
    } finally {
      await receiver.stop();
    }

    const listed = command("list");
    expect(listed.stdout).toContain("standalone  moderate,read");
    const id = /^([0-9a-f-]{36})  standalone/m.exec(listed.stdout)![1]!;
    expect(command("revoke", id).status).toBe(0);
    expect((await server.get("/server/v1/webhooks")).status).toBe(401);
    expect(command("revoke", id).status).toBe(2);
    expect(command("create", "--name", "x", "--scope", "everything").stderr).toContain('unknown scope "everything"');
    child.kill("SIGINT");
    expect(await exited(child)).toBe(0);
  }, 120_000);
});

/**
 * Login and register latency against their floor: argon2.verify alone with the same parameters,
 * and zxcvbn alone. Runs the real api (production argon2 defaults) in this process, on a database
 * of its own (created on BENCH_PG_ADMIN_URL's server and dropped after), with sequential requests.
 *
 *   npx tsx bench/login.ts [rounds]
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import argon2 from "argon2";
import pino from "pino";
import zxcvbn from "zxcvbn";
import { passwordStrength, STRENGTH_CHARS } from "../api/accounts/password";
import { StrengthChecker } from "../api/accounts/strength-worker";
import { loadConfig } from "../shared/config";
import { startApiServer } from "../api/server";
import { connectServices } from "../bin/services";
import { createBenchDatabase } from "./lib/setup";

const rounds = Number(process.argv[2] ?? 40);
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
};
const fmt = (x: number) => `${x.toFixed(1)} ms`;

async function time(fn: () => Promise<unknown>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

async function main() {
  const logger = pino({ level: "silent" });
  const database = await createBenchDatabase();
  const config = loadConfig({
    dotenv: false,
    env: {
      DATABASE_URL: database.url,
      LOG_LEVEL: "silent",
      LOGIN_MAX_FAILURES_PER_IP: "1000000",
      LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: "1000000",
      LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000000",
      REGISTER_MAX_PER_IP: "1000000",
    },
  });
  const db = database.db;
  // The api as npm start runs it without Redis: the standalone role's connections and startApiServer.
  const services = await connectServices(config, logger, { role: "standalone" });
  const server = await startApiServer({ ...services, config, logger, port: 0, host: "127.0.0.1" });
  const base = server.url;
  const post = (path: string, body: unknown) =>
    fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });

  const username = `bench_${randomBytes(4).toString("hex")}`;
  const password = `Vq7!${randomBytes(12).toString("base64url")}`;
  if ((await post("/register", { username, email: `${username}@bench.test`, password })) !== 201) throw new Error("register failed");
  const hash = (await db.selectFrom("users").select("password_hash").where("username", "=", username).executeTakeFirstOrThrow()).password_hash ?? "";

  // Interleave so that machine noise hits both sides alike.
  const login: number[] = [];
  const verify: number[] = [];
  for (let i = 0; i < rounds; i++) {
    login.push(...(await time(() => post("/login", { username, password }), 1)));
    verify.push(...(await time(() => argon2.verify(hash, password), 1)));
  }
  const l = stats(login);
  const v = stats(verify);
  const wrong: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < Math.max(5, Math.floor(rounds / 4)); i++) {
    wrong.push(...(await time(() => post("/login", { username, password: "Wrong-password-1!" }), 1)));
    unknown.push(...(await time(() => post("/login", { username: `nobody_${i}`, password: "Wrong-password-1!" }), 1)));
  }

  const long = "Zq8#".repeat(8) + "correct-horse-battery-staple-".repeat(3) + "x".repeat(128 - 32 - 87);
  const reg = await time(async () => {
    const u = `bench_${randomBytes(4).toString("hex")}`;
    const status = await post("/register", { username: u, email: `${u}@bench.test`, password: long });
    if (status !== 201) throw new Error(`register ${status}`);
  }, Math.max(5, Math.floor(rounds / 4)));
  const checker = new StrengthChecker();
  const zx = await time(() => passwordStrength(checker, long, ["someone", "someone@bench.test"]), 20);
  const zxFull = await time(async () => zxcvbn(long), 5);
  await checker.close();

  process.stdout.write(
    [
      `argon2id m=${config.argon2.memoryCost} KiB, t=${config.argon2.timeCost}, p=${config.argon2.parallelism}; ${rounds} sequential rounds`,
      `| figure | p50 | p99 | mean |`,
      `| --- | --- | --- | --- |`,
      `| POST /login | ${fmt(l.p50)} | ${fmt(l.p99)} | ${fmt(l.mean)} |`,
      `| argon2.verify alone | ${fmt(v.p50)} | ${fmt(v.p99)} | ${fmt(v.mean)} |`,
      `| login / verify (p50) | ${(l.p50 / v.p50).toFixed(3)}x | | |`,
      `| POST /login, wrong password (401) | ${fmt(stats(wrong).p50)} | ${fmt(stats(wrong).p99)} | ${fmt(stats(wrong).mean)} |`,
      `| POST /login, unknown user (401) | ${fmt(stats(unknown).p50)} | ${fmt(stats(unknown).p99)} | ${fmt(stats(unknown).mean)} |`,
      `| POST /register, 128-char password | ${fmt(stats(reg).p50)} | ${fmt(stats(reg).p99)} | ${fmt(stats(reg).mean)} |`,
      `| zxcvbn in its worker (capped at ${STRENGTH_CHARS} chars) | ${fmt(stats(zx).p50)} | ${fmt(stats(zx).p99)} | ${fmt(stats(zx).mean)} |`,
      `| zxcvbn uncapped on the main thread, 128 chars | ${fmt(stats(zxFull).p50)} | ${fmt(stats(zxFull).p99)} | ${fmt(stats(zxFull).mean)} |`,
      "",
    ].join("\n"),
  );
  await server.close();
  await services.close();
  await database.drop();
}

main().catch((err) => {
  process.stderr.write(`${err}\n`);
  process.exit(1);
});

/**
 * `--only=login`: POST /login on the api against argon2.verify alone with the same hash, sequential
 * and 4 at a time (client-proc's `login`): what the api adds to the password check.
 */
import { randomBytes } from "node:crypto";
import type { Phase } from "../lib/context";
import type { Summary } from "../lib/stats";

const LOGIN = { rounds: 30, concurrency: 4, batch: 16 };

export const loginPhase: Phase = {
  name: "login",
  needs: ["api", "clients"],
  async run({ server, clients, database, details, log, row }) {
    const api = server("api").info.url as string;
    const username = `bench_login_${randomBytes(3).toString("hex")}`;
    const password = `Vq7!${randomBytes(12).toString("base64url")}`;
    const reg = await fetch(`${api}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, email: `${username}@bench.test`, password }),
    });
    if (reg.status !== 201) throw new Error(`register ${reg.status} ${await reg.text()}`);
    const hash = (await database.db.selectFrom("users").select("password_hash").where("username", "=", username).executeTakeFirstOrThrow()).password_hash ?? "";
    const res = await clients[2]!.call<{ login: Summary; verify: Summary; loginPerSec: number; verifyPerSec: number }>(
      "login",
      { api, username, password, hash, ...LOGIN },
      240_000,
    );
    details.login = { ...res, ...LOGIN, argon2: hash.split("$").slice(1, 4).join("$") };
    log(`login: ${JSON.stringify(res)}`);
    const params = hash.split("$")[3];
    row("login.p50", { figure: `login latency p50, POST /login vs argon2.verify alone (${params}, sequential)`, ours: res.login.p50, baseline: res.verify.p50, unit: "ms", ratio: res.login.p50 / res.verify.p50 });
    row("login.p99", { figure: "login latency p99 (same rounds)", ours: res.login.p99, baseline: res.verify.p99, unit: "ms", ratio: res.login.p99 / res.verify.p99 });
    row("login.throughput", {
      figure: `login throughput, ${LOGIN.concurrency} at a time`,
      ours: res.loginPerSec,
      baseline: res.verifyPerSec,
      unit: "/s",
      ratio: res.loginPerSec / res.verifyPerSec,
    });
  },
};

import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MessageLimit } from "../../../../shared/limits/message-limit";
import { createRedis, type Redis } from "../../../../shared/redis/clients";
import { type RedisServer, startRedisServer } from "../../../support/redis-server";
import { eventually } from "../../../support/waits";

let redis: RedisServer;
let clients: Redis[] = [];
const logger = pino({ enabled: false });

/** A posting limit of `max` per minute as one gateway (its own Redis connection, once connected) sees it; `ahead` false: as the api. */
async function process_(max: number, ahead = true): Promise<MessageLimit> {
  const client = createRedis(redis.url, { logger, name: `limit-${clients.length}` });
  clients.push(client);
  if (client.status !== "ready") await new Promise((resolve) => client.once("ready", resolve));
  return new MessageLimit({ maxPerUser: max, window: 60 }, client, ahead);
}

/** What the shared counter holds for the user (every message counted, waited for or not). */
const counted = async (userId: string) => Number((await clients[0]!.get(`wsac:post:user:${userId}`)) ?? 0);

const outcome = (p: Promise<void>) =>
  p.then(
    () => "ok",
    (err: { code?: string }) => err.code ?? "error",
  );

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  clients = [];
  await redis?.stop();
});

describe("the posting limit", () => {
  it("lets exactly the limit through from one process, sent one after another or all at once, and counts every message", async () => {
    const limit = await process_(10);
    const oneByOne = randomUUID();
    const seq: string[] = [];
    for (let i = 0; i < 12; i += 1) seq.push(await outcome(limit.take(oneByOne)));
    expect(seq).toEqual([...Array<string>(10).fill("ok"), "rate_limited", "rate_limited"]);
    // The takes that did not wait were counted meanwhile; refusals are given back.
    await eventually(async () => (await counted(oneByOne)) === 10, 2_000, "ten counted");

    const burst = randomUUID();
    await limit.take(burst);
    const all = await Promise.all(Array.from({ length: 12 }, () => outcome(limit.take(burst))));
    expect(all.filter((o) => o === "ok")).toHaveLength(9);
    expect(all.filter((o) => o === "rate_limited")).toHaveLength(3);
    await eventually(async () => (await counted(burst)) === 10, 2_000, "ten counted");
  });

  it("counts two processes together: one relying on a stale answer lets through at most what it had in hand, once", async () => {
    const [a, b] = [await process_(10), await process_(10)];
    const user = randomUUID();
    await a.take(user); // a heard: 9 left
    for (let i = 0; i < 9; i += 1) await b.take(user); // b used them all
    // a's last answer still says 9: this one goes on, and is counted (over the limit).
    expect(await outcome(a.take(user))).toBe("ok");
    await eventually(async () => (await counted(user)) === 11, 2_000, "the eleventh counted");
    // Its answer corrected a: from now on both are refused.
    await eventually(async () => (await outcome(a.take(user))) === "rate_limited", 2_000, "a refuses");
    expect(await outcome(b.take(user))).toBe("rate_limited");
  });

  it("as the api, always waits for the counter", async () => {
    const [gateway, api] = [await process_(10), await process_(10, false)];
    const user = randomUUID();
    await api.take(user); // 9 left
    for (let i = 0; i < 9; i += 1) await gateway.take(user);
    await eventually(async () => (await counted(user)) === 10, 2_000, "ten counted");
    expect(await outcome(api.take(user))).toBe("rate_limited");
    expect(await counted(user)).toBe(10);
  });

  it("waits for the counter again once its last answer is a second old", async () => {
    const [a, b] = [await process_(3), await process_(3)];
    const user = randomUUID();
    await a.take(user); // a heard: 2 left
    await b.take(user);
    await b.take(user); // used up
    // A second on: MessageLimit dates its answers by Date.now(), so that clock moves instead of being waited for.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 1_100 });
    try {
      expect(await outcome(a.take(user))).toBe("rate_limited");
    } finally {
      vi.useRealTimers();
    }
    expect(await counted(user)).toBe(3);
  });
});

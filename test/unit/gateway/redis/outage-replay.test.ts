import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { Server } from "socket.io";
import { io as connect } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { OutageReplay } from "../../../../gateway/redis/outage-replay";
import { wireRedisAdapter } from "../../../../gateway/redis/adapter";
import type { GatewayIo } from "../../../../gateway/socket/types";
import type { Db } from "../../../../shared/db/db";
import { createRedis } from "../../../../shared/redis/clients";
import { startRedisServer } from "../../../support/redis-server";

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const CHAT = "5f0c6d1e-8c51-4e55-9a43-3c1f3c1a2b01";
const logger = pino({ level: "silent" });

/** A Socket.IO server on the Redis adapter (classic: every gateway hears every room), with a client in the chat's room. */
async function gateway(redisUrl: string) {
  const pub = createRedis(redisUrl, { name: "test-pub", logger });
  const sub = createRedis(redisUrl, { name: "test-sub", logger, offlineQueue: true });
  const http = createServer();
  const io = new Server(http) as GatewayIo;
  io.adapter(wireRedisAdapter({ clients: { sharded: false, pub, sub }, logger, onPublishFailed: () => undefined }).adapter);
  closers.push(() => Promise.all([pub.quit(), sub.quit()]));
  closers.push(() => new Promise((resolve) => io.close(resolve)));
  io.on("connection", (socket) => void socket.join(`chat:${CHAT}`));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => (sub.status === "ready" ? resolve() : sub.once("ready", () => resolve())));
  const client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ["websocket"] });
  closers.push(() => client.close());
  const seen: string[] = [];
  client.on("message:new" as never, (m: { id: string }) => void seen.push(m.id));
  await new Promise((resolve) => client.on("connect", resolve as never));
  // The replay reads PostgreSQL only when a link comes back; marking what arrives needs none.
  const replay = new OutageReplay(io, undefined as unknown as Db, logger);
  return { io, replay, seen };
}

describe("the outage replay's record of what this gateway's sockets got", () => {
  it("counts another gateway's broadcast, received through Redis, as delivered here", async () => {
    const redis = await startRedisServer();
    closers.push(() => redis.stop());
    const [one, two] = [await gateway(redis.url), await gateway(redis.url)];
    await new Promise((resolve) => setTimeout(resolve, 100)); // the server-side joins

    // As a socket's send does on gateway one: marked there, then broadcast through the adapter.
    expect(one.replay.delivered("m1")).toBe(true);
    one.io.to(`chat:${CHAT}`).emit("message:new", { id: "m1", chat_id: CHAT } as never);
    one.io.to(`chat:${CHAT}`).emit("typing", { chat_id: CHAT, user: { id: "u", username: "u" } });
    await expect.poll(() => two.seen, { timeout: 2_000 }).toEqual(["m1"]);
    // Gateway two's replay would now skip m1: its socket has it.
    expect(two.replay.delivered("m1")).toBe(false);
    // An id that never came through is still new to it, and other events leave no mark.
    expect(two.replay.delivered("m2")).toBe(true);
    expect(two.replay.sizes().replayRecentIds).toBe(2);
  });
});

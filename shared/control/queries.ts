import { randomUUID } from "node:crypto";
import { z } from "zod";
import { uuid } from "../contract/validation";
import { LEASE_MS } from "../presence/presence";
import type { RedisClient } from "../redis/clients";
import type { ControlBus } from "./bus";

/**
 * Questions the api asks every gateway (server API: a user's presence, cluster stats). The api
 * publishes a `gateway_query` on the control bus; each gateway answers about its own sockets by
 * pushing a reply to a list in Redis named by the query; the api reads the list until every live
 * gateway has answered (live: its presence lease is fresh) or the time is up. In one process
 * (npm start) the gateway answers in memory.
 */
export const gatewayQuery = z.discriminatedUnion("kind", [z.object({ kind: z.literal("user"), user_id: uuid }), z.object({ kind: z.literal("stats") })]);
export type GatewayQuery = z.infer<typeof gatewayQuery>;

export const gatewayReply = z.object({
  gateway: z.string().max(200),
  /** kind "user": the user's sockets here, and the chats they are in. */
  sockets: z.number().int().min(0),
  chats: z.array(z.string()).max(10_000),
  /** kind "stats": every socket here, the chats with a socket here, messages stored from sockets per second (last 10 s). */
  connections: z.number().int().min(0),
  chat_count: z.number().int().min(0),
  messages_per_second: z.number().min(0),
});
export type GatewayReply = z.infer<typeof gatewayReply>;

/** Where gateways put their replies and the api finds them. */
export interface QueryReplies {
  put(queryId: string, reply: GatewayReply): Promise<void>;
  /** The replies so far. */
  read(queryId: string): Promise<GatewayReply[]>;
  forget(queryId: string): Promise<void>;
  /** How many gateways should answer (undefined: unknown, wait the whole time). */
  expected(): Promise<number | undefined>;
}

const replyKey = (id: string) => `wsac:q:${id}`;
/** The presence store's lease hash (shared/presence/redis-presence.ts): gateway → last renewal, ms. */
const LEASES = "wsac:pr:gateways";

export function redisReplies(redis: RedisClient): QueryReplies {
  return {
    async put(id, reply) {
      await redis.rpush(replyKey(id), JSON.stringify(reply));
      await redis.pexpire(replyKey(id), 10_000);
    },
    async read(id) {
      return (await redis.lrange(replyKey(id), 0, -1)).flatMap((raw) => {
        const parsed = gatewayReply.safeParse(JSON.parse(raw));
        return parsed.success ? [parsed.data] : [];
      });
    },
    async forget(id) {
      await redis.del(replyKey(id));
    },
    async expected() {
      const leases = Object.values(await redis.hgetall(LEASES));
      const live = leases.filter((at) => Date.now() - Number(at) <= LEASE_MS).length;
      return live > 0 ? live : undefined;
    },
  };
}

/** npm start's one process: its gateway's replies in memory (one gateway answers, or none when there is none). */
export function memoryReplies(gateways = 1): QueryReplies {
  const lists = new Map<string, GatewayReply[]>();
  return {
    async put(id, reply) {
      lists.set(id, [...(lists.get(id) ?? []), reply]);
    },
    async read(id) {
      return lists.get(id) ?? [];
    },
    async forget(id) {
      lists.delete(id);
    },
    async expected() {
      return gateways;
    },
  };
}

/** Asks every gateway; resolves with the replies that came within `timeoutMs` (all of them, usually in a few ms). */
export async function askGateways(bus: ControlBus, replies: QueryReplies, query: GatewayQuery, timeoutMs = 1_000): Promise<GatewayReply[]> {
  const id = randomUUID();
  const expected = await replies.expected();
  await bus.publish({ type: "gateway_query", id, query });
  const deadline = Date.now() + timeoutMs;
  let got: GatewayReply[] = [];
  for (let wait = 2; Date.now() < deadline; wait = Math.min(wait * 2, 50)) {
    got = await replies.read(id);
    if (expected !== undefined && got.length >= expected) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, Math.max(0, deadline - Date.now()))));
  }
  got = await replies.read(id);
  await replies.forget(id);
  return got;
}

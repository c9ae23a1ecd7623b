import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageView } from "../../../shared/contract/views";
import { type InProcessCluster, startOnRedisCluster } from "../../support/fixtures";
import { chatWith, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import { type RedisCluster, startRedisCluster } from "../../support/redis-cluster";
import { ask, type ClientSocket } from "../../support/socket-client";
import { collect, holdsWithin, nextEvent } from "../../support/waits";

/**
 * REDIS_CLUSTER_NODES names only the three masters of a Redis Cluster of the test's own (3 masters,
 * 3 replicas, node timeout 1 s). Each seed master is killed in turn and never restarted, so that
 * after the third every seed is dead: the api and the gateways must reconnect through the nodes
 * they last saw. After each kill, once the cluster is whole again (the replica promoted), and once
 * more after every connection dropped (each client then reconnects from scratch, a Cluster client
 * through its startup nodes), the gateways are ready, a chat reaches every gateway and a
 * revocation ends its session's sockets on every gateway, all within 10 s.
 */
let redisCluster: RedisCluster;
let cluster: InProcessCluster;
let seedMasters: number[];

beforeAll(async () => {
  redisCluster = await startRedisCluster({ seeds: "masters" });
  seedMasters = (await redisCluster.masters()).map((m) => m.port);
  cluster = await startOnRedisCluster(redisCluster, 3);
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  await redisCluster?.stop();
});

const BACK_WITHIN_MS = 10_000;
const http = () => httpClient(cluster.api.url);

/** One member per gateway, all in one chat. */
let members: { chatId: string; sockets: ClientSocket[]; seen: MessageView[][] };
/** Per kill (and for the blip), a user with a socket on every gateway, whose session is revoked after it. */
let victims: { user: LoggedIn; sockets: ClientSocket[] }[];

/**
 * Sends a new message from `from`, and again each time none sent by this call reached every other
 * member's socket (live or replayed after an outage, as a client sees it) within 250 ms, bounded.
 */
async function deliveredAcross(from: number, tag: string): Promise<void> {
  const deadline = Date.now() + BACK_WITHIN_MS;
  const sent = new Set<string>();
  const arrived = () => members.seen.every((seen, i) => i === from || seen.some((m) => sent.has(m.text)));
  const others = () => members.seen.map((seen, i) => (i === from ? "sender" : seen.filter((m) => sent.has(m.text)).length));
  for (let i = 0; Date.now() < deadline; i += 1) {
    const text = `${tag}-${i}`;
    sent.add(text);
    // An answer may be an error (Redis limits unreachable) or never come: the next round sends again.
    void ask(members.sockets[from]!, "message:send", { chat_id: members.chatId, text }, 2_000).catch(() => undefined);
    if (await holdsWithin(arrived, Math.min(250, deadline - Date.now()))) return;
  }
  throw new Error(`no message from gateway ${from + 1} reached every other gateway within ${BACK_WITHIN_MS} ms (${others().join(", ")})`);
}

describe("the cluster when every seed master dies in turn", () => {
  beforeAll(async () => {
    const users = [];
    for (let i = 0; i < 3; i += 1) users.push(await registerAndLogin(http(), `seed-m${i}`));
    const chatId = await chatWith(users[0]!, users.slice(1), "seeds");
    const sockets = await Promise.all(users.map((u, i) => cluster.sockets.connect(cluster.gateways[i]!.url, { token: u.token, chatId })));
    members = { chatId, sockets, seen: sockets.map((s) => collect(s, "message:new")) };
    victims = [];
    for (let i = 0; i < 4; i += 1) {
      const user = await registerAndLogin(http(), `seed-v${i}`);
      victims.push({ user, sockets: await Promise.all(cluster.gateways.map((g) => cluster.sockets.connect(g.url, { token: user.token }))) });
    }
    await deliveredAcross(0, "before");
  }, 60_000);

  /**
   * Within 10 s from now, every gateway is ready again (a gateway that cannot hear the control bus
   * says not ready, and a balancer takes it out), a chat reaches every gateway, and a log out
   * ends the victim's sockets on every gateway. What each took, for the record.
   */
  async function backWithin(victim: { user: LoggedIn; sockets: ClientSocket[] }, from: number, tag: string): Promise<string> {
    const start = Date.now();
    const since = () => Date.now() - start;
    const ended = Promise.all(victim.sockets.map((s) => nextEvent(s, "session:ended", BACK_WITHIN_MS)));
    const [readyMs, deliveredMs, revokedMs] = await Promise.all([
      cluster.allReady(true, BACK_WITHIN_MS).then(since),
      deliveredAcross(from, tag).then(since),
      (async () => {
        const status = (await victim.user.http.post("/logout")).status;
        expect(await ended).toEqual(victim.sockets.map(() => ({ reason: "revoked" })));
        expect(status).toBe(204);
        return since();
      })(),
    ]);
    return `gateways ready in ${readyMs} ms, delivery across gateways in ${deliveredMs} ms, revocation on every gateway in ${revokedMs} ms`;
  }

  for (const round of [0, 1, 2]) {
    it(`is back on every gateway within 10 s of the cluster being whole after seed master ${round + 1} of 3 dies`, async ({ annotate }) => {
      await redisCluster.kill(seedMasters[round]!);
      await redisCluster.whole();
      // Not asserted beyond the 10 s (timing claims belong to the benchmarks): for the record.
      await annotate(`after kill ${round + 1}: ${await backWithin(victims[round]!, round, `after-kill-${round + 1}`)}`);
    }, 45_000);
  }

  it("is back on every gateway within 10 s when every connection drops once every seed is dead", async ({ annotate }) => {
    // Every client reconnects from scratch: a cluster client through its startup nodes, none of them a seed.
    await redisCluster.dropClients();
    await annotate(`after the blip: ${await backWithin(victims[3]!, 1, "after-blip")}`);
  }, 45_000);
});

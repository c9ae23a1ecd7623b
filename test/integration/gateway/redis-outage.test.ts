import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, type InProcessCluster, startInProcessCluster } from "../../support/fixtures";
import { chatWith, httpClient as http, type LoggedIn, registerAndLogin } from "../../support/http";
import type { RedisServer } from "../../support/redis-server";
import { ask, type ClientSocket, type SocketClients } from "../../support/socket-client";
import { collect, disconnected, eventually, nextEvent } from "../../support/waits";

let cluster: Awaited<ReturnType<typeof startInProcessCluster>>;
let redis: RedisServer;
let api: InProcessCluster["api"];
let gateways: GatewayFixture[] = [];
let sockets: SocketClients;

beforeAll(async () => {
  cluster = await startInProcessCluster(3);
  ({ redis, api, gateways, sockets } = cluster);
});

afterAll(async () => {
  await cluster?.close();
});

const allReady = (ready: boolean, timeoutMs?: number) => cluster.allReady(ready, timeoutMs);

/** Sends from `from` until `to` hears one (the adapter's re-subscription lands a moment after the link is back). */
async function deliveredAcross(from: ClientSocket, to: ClientSocket, chatId: string, tries = 40): Promise<void> {
  for (let i = 0; i < tries; i += 1) {
    const text = `probe ${i}`;
    const heard = nextEvent(to, "message:new", 250).catch(() => undefined);
    expect((await ask(from, "message:send", { chat_id: chatId, text })).ok).toBe(true);
    let message = await heard;
    // A probe from an earlier try may arrive late: keep listening briefly for this one.
    while (message && message.text !== text) message = await nextEvent(to, "message:new", 250).catch(() => undefined);
    if (message) return;
  }
  throw new Error("cross-gateway delivery did not resume");
}

describe("Redis goes away and comes back", () => {
  let alice: LoggedIn;
  let bob: LoggedIn;
  let carol: LoggedIn;
  let dave: LoggedIn;

  it("keeps gateways serving local rooms, refuses revoked tokens, and resumes everything after a restart", async () => {
    [alice, bob, carol, dave] = (await Promise.all(["alice", "bob", "carol", "dave"].map((p) => registerAndLogin(http(api.url), p)))) as [LoggedIn, LoggedIn, LoggedIn, LoggedIn];
    const chatId = await chatWith(alice, [bob, carol]);
    const [gw1, gw2, gw3] = gateways as [GatewayFixture, GatewayFixture, GatewayFixture];
    const a1 = await sockets.connect(gw1.url, { token: alice.token, chatId });
    const c1 = await sockets.connect(gw1.url, { token: carol.token, chatId });
    const b2 = await sockets.connect(gw2.url, { token: bob.token, chatId });
    const daveSockets = [await sockets.connect(gw2.url, { token: dave.token }), await sockets.connect(gw3.url, { token: dave.token })];
    await deliveredAcross(a1, b2, chatId);

    await redis.kill();
    await allReady(false);
    const seenByA1 = collect(a1, "message:new");
    const seenByB2 = collect(b2, "message:new");

    // Gateways stay up and local rooms keep working: a message from gw1 reaches gw1's sockets.
    for (const g of gateways) expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
    const local = nextEvent(c1, "message:new");
    const sent = await ask(a1, "message:send", { chat_id: chatId, text: "during the outage" });
    expect(sent.ok).toBe(true);
    expect((await local).text).toBe("during the outage");
    // The message is stored: anyone catches up on it with chat:join {after}.
    const catchUp = await sockets.connect(gw2.url, { token: bob.token });
    const before = sent.ok ? String(BigInt(sent.message.id) - 1n) : "1";
    const joined = await ask(catchUp, "chat:join", { chat_id: chatId, after: before });
    expect(joined.ok && joined.missed.map((m) => m.text)).toEqual(["during the outage"]);

    expect((await bob.http.post(`/chats/${chatId}/messages`, { text: "http during the outage" })).status).toBe(201);

    // New handshakes need only PostgreSQL; a revocation made now is refused at once by every gateway,
    // and the sockets it names end within two seconds of the call, Redis or not (the gateways
    // re-check their sockets against PostgreSQL while their control link is down).
    const ended = daveSockets.map((s) => Promise.all([nextEvent(s, "session:ended", 2_000), disconnected(s, 2_000)]));
    const removed = nextEvent(c1, "chat:removed", 2_000);
    expect((await http(api.url, dave.token).post("/logout")).status).toBe(204);
    expect((await alice.http.delete(`/chats/${chatId}/members/${carol.user.id}`)).status).toBe(204);
    for (const [event, reason] of await Promise.all(ended)) {
      expect(event).toEqual({ reason: "revoked" });
      expect(reason).toBe("io server disconnect");
    }
    expect(await removed).toEqual({ chat_id: chatId });
    for (const g of gateways) expect((await sockets.refusal(g.url, { token: dave.token })).data?.code).toBe("session_revoked");
    // The removed member hears nothing more of the chat, though its session is alive and refreshed.
    const afterRemoval = collect(c1, "message:new");
    expect((await ask(c1, "auth:refresh", { token: carol.token })).ok).toBe(true);
    expect((await ask(a1, "message:send", { chat_id: chatId, text: "after carol left" })).ok).toBe(true);
    expect((await ask(c1, "chat:typing", { chat_id: chatId })).ok).toBe(false);

    await redis.restart();
    await allReady(true, 15_000);

    // What the cut-off gateways missed is delivered once they are back, once each.
    const texts = (seen: { text: string }[]) => seen.map((m) => m.text).filter((t) => t.endsWith("during the outage")).sort();
    await eventually(() => texts(seenByB2).length >= 2 && texts(seenByA1).length >= 2, 10_000, "the missed messages");
    expect(texts(seenByB2)).toEqual(["during the outage", "http during the outage"]);
    expect(texts(seenByA1)).toEqual(["during the outage", "http during the outage"]);

    // Cross-gateway delivery resumes, from sockets and from the api alike.
    await deliveredAcross(a1, b2, chatId);
    await deliveredAcross(b2, a1, chatId);
    await eventually(
      async () => {
        const heard = nextEvent(b2, "message:new", 500).catch(() => undefined);
        await alice.http.post(`/chats/${chatId}/messages`, { text: "http after the outage" });
        return (await heard)?.text === "http after the outage";
      },
      10_000,
      "http messages to reach gw2 again",
    );
    expect(a1.connected && b2.connected).toBe(true);
    expect(afterRemoval.map((m) => m.text)).toEqual([]);
  });
});

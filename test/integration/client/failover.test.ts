import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChatSocket, type Client, type ClientOptions, type SocketStatus } from "../../../client/index";
import type { MessageView } from "../../../shared/contract/views";
import { listen } from "../../../shared/process";
import { type GatewayFixture, type InProcessCluster, startInProcessCluster } from "../../support/fixtures";
import { signedUp } from "../../support/typed-client";
import { eventually } from "../../support/waits";

/**
 * A balancer for the test: each TCP connection goes to the next gateway in turn, skipping one that
 * refuses (as nginx skips a dead upstream). WebSocket-only clients need no stickiness.
 */
async function roundRobin(ports: number[]): Promise<{ url: string; close(): Promise<void> }> {
  let turn = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client)).on("error", () => client.destroy());
    const attempt = (left: number) => {
      if (left === 0 || client.destroyed) return client.destroy();
      const upstream = connect(ports[turn++ % ports.length]!, "127.0.0.1");
      let connected = false;
      upstream.once("error", () => (connected ? undefined : attempt(left - 1)));
      upstream.once("connect", () => {
        connected = true;
        open.add(upstream);
        upstream.on("error", () => client.destroy()).on("close", () => (open.delete(upstream), client.destroy()));
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
      });
    };
    attempt(ports.length);
  });
  const port = await listen(server, 0, "127.0.0.1");
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

let cluster: InProcessCluster;
let balancer: Awaited<ReturnType<typeof roundRobin>>;
const sockets: ChatSocket[] = [];

beforeAll(async () => {
  cluster = await startInProcessCluster(2);
  balancer = await roundRobin(cluster.gateways.map((g) => Number(new URL(g.url).port)));
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await balancer?.close();
  await cluster?.close();
});

async function user(prefix: string, socket: ClientOptions["socket"] = {}): Promise<Client> {
  // HTTP to the api, the socket through the balancer; WebSocket only (no sticky sessions needed).
  return (await signedUp({ url: cluster.api.url, socketUrl: balancer.url, socket: { transports: ["websocket"], ...socket } }, prefix)).client;
}

/** The gateway holding the user's socket (its own sockets: fetchSockets would ask the whole cluster). */
const gatewayOf = (userId: string): GatewayFixture | undefined =>
  cluster.gateways.find((g) => [...g.gateway.io.of("/").sockets.values()].some((s) => s.data.userId === userId));

describe("a gateway dies under a client", () => {
  it("reconnects to another gateway and catches up on what it missed, each message once and in order", async () => {
    const alice = await user("alice");
    // A reconnect delay without jitter, so that the messages below are surely sent while Bob is away.
    const bob = await user("bob", { reconnectionDelay: 1_000, randomizationFactor: 0 });
    const chat = await alice.chats.create({ name: "failover", members: [bob.user!.username] });
    await bob.invites.accept((await bob.invites.list())[0]!.id);

    const b = bob.connect();
    sockets.push(b);
    const bobSees: MessageView[] = [];
    const bobStatus: SocketStatus[] = [];
    const bobUpdates: MessageView[] = [];
    b.on("message", (m) => bobSees.push(m));
    b.on("message:updated", (m) => bobUpdates.push(m));
    b.on("status", (s) => bobStatus.push(s));
    await b.join(chat.id);
    const a = alice.connect();
    sockets.push(a);
    const aliceSees: MessageView[] = [];
    a.on("message", (m) => aliceSees.push(m));
    await a.join(chat.id);

    const bobsGateway = gatewayOf(bob.user!.id);
    const alicesGateway = gatewayOf(alice.user!.id);
    expect(bobsGateway).toBeDefined();
    expect(alicesGateway).not.toBe(bobsGateway);

    const before = ["before 1", "before 2"];
    const sentBefore: MessageView[] = [];
    for (const text of before) sentBefore.push(await a.send(chat.id, text));
    await eventually(() => bobSees.length === before.length, 5_000, "bob has the first messages");

    // Bob's gateway dies: its connections drop without a goodbye.
    await bobsGateway!.close();
    cluster.gateways.splice(cluster.gateways.indexOf(bobsGateway!), 1);
    const fromBobMeanwhile = b.send(chat.id, "bob while away");
    const away = Array.from({ length: 5 }, (_, i) => `away ${i + 1}`);
    let sentWhileBobWasAway = 0;
    for (const text of away) {
      await a.send(chat.id, text);
      if (!b.connected) sentWhileBobWasAway += 1;
    }
    // Only the catch-up (chat:join {cursor}) can bring these: Bob had no connection when they went out.
    expect(sentWhileBobWasAway).toBeGreaterThan(0);
    // An edit, live or from the catch-up (whichever Bob's reconnect makes it): once either way.
    await a.edit(chat.id, sentBefore[0]!.id, "before 1, edited");

    const mine = await fromBobMeanwhile;
    expect(mine.text).toBe("bob while away");
    const fromAlice = () => bobSees.filter((m) => m.sender.id === alice.user!.id).map((m) => m.text);
    await eventually(() => fromAlice().length >= before.length + away.length, 10_000, "bob caught up");
    expect(fromAlice()).toEqual([...before, ...away]);
    expect(gatewayOf(bob.user!.id)).toBe(alicesGateway);
    expect(bobStatus).toEqual(["connected", "reconnecting", "connected"]);

    // Bob's message, sent while he was away, arrives once (the retry reuses its client_id).
    await eventually(() => aliceSees.some((m) => m.text === "bob while away"), 5_000, "alice has bob's message");
    expect(aliceSees.filter((m) => m.text === "bob while away")).toHaveLength(1);
    expect(new Set(bobSees.map((m) => m.id)).size).toBe(bobSees.length);
    const stored = await alice.chats.messages(chat.id, { limit: 100 });
    expect(stored.filter((m) => m.text === "bob while away")).toHaveLength(1);

    // A barrier: once Bob has this, whatever the edit brought has come too.
    const last = await a.send(chat.id, "last");
    await eventually(() => bobSees.some((m) => m.id === last.id), 5_000, "bob has the last message");
    expect(bobUpdates.map((m) => [m.id, m.text])).toEqual([[sentBefore[0]!.id, "before 1, edited"]]);
  });
});

import { afterAll, beforeAll, describe, it } from "vitest";
import { type ChatSocket, type Client, SocketError } from "../../../client/index";
import type { MessageView } from "../../../shared/contract/views";
import { type SingleNode, startSingleNode } from "../../support/fixtures";
import { signedUp } from "../../support/typed-client";
import { eventually } from "../../support/waits";

let node: SingleNode;
const open: ChatSocket[] = [];

beforeAll(async () => {
  node = await startSingleNode();
});
afterAll(async () => {
  for (const socket of open) socket.close();
  await node?.close();
});

async function user(prefix: string): Promise<Client> {
  return (await signedUp({ url: node.url }, prefix)).client;
}

/** Alice's chat with Bob (invited and accepted), and a socket of each in it. */
async function pair(prefix: string) {
  const [alice, bob] = await Promise.all([user(`${prefix}_a`), user(`${prefix}_b`)]);
  const chat = await alice.chats.create({ name: prefix, members: [bob.user!.username] });
  await bob.invites.accept((await bob.invites.list())[0]!.id);
  const a = alice.connect();
  const b = bob.connect();
  open.push(a, b);
  const aliceSees: MessageView[] = [];
  const bobSees: MessageView[] = [];
  a.on("message", (m) => aliceSees.push(m));
  b.on("message", (m) => bobSees.push(m));
  await Promise.all([a.join(chat.id), b.join(chat.id)]);
  return { alice, bob, chat, a, b, aliceSees, bobSees };
}

const refusal = async (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => (err instanceof SocketError ? err.code : err),
  );

describe.concurrent("the typed socket", () => {
  it("delivers socket and HTTP messages once each; a resent client_id stores and delivers once", async ({ expect }) => {
    const { alice, chat, a, b, bobSees } = await pair("deliver");
    const first = await a.send(chat.id, "over the socket", "client-id-1");
    const again = await a.send(chat.id, "over the socket", "client-id-1");
    expect(again.id).toBe(first.id);
    await alice.chats.post(chat.id, { text: "over HTTP" });
    const fromBob = await b.send(chat.id, "from bob");
    await eventually(() => bobSees.length >= 3, 5_000, "three messages");
    expect(bobSees.map((m) => m.text)).toEqual(["over the socket", "over HTTP", "from bob"]);
    expect(bobSees[2]!.id).toBe(fromBob.id);
    expect(first.client_id).toBe("client-id-1");
  });

  it("relays the live lists: a new invite, and the chat once the invite is accepted on another device", async ({ expect }) => {
    const [alice, bob] = await Promise.all([user("lists_a"), user("lists_b")]);
    const phone = bob.connect();
    open.push(phone);
    await eventually(() => phone.connected, 5_000, "bob's socket");
    const invites: { id: string; chat: { id: string } }[] = [];
    const chats: { id: string }[] = [];
    phone.on("invite:new", (i) => invites.push(i));
    phone.on("chat:added", (c) => chats.push(c));
    const chat = await alice.chats.create({ name: "lists", members: [] });
    const invite = await alice.chats.invite(chat.id, bob.user!.username);
    await eventually(() => invites.length === 1, 5_000, "invite:new");
    expect(invites[0]).toMatchObject({ id: invite.id, chat: { id: chat.id } });
    await bob.invites.accept(invite.id);
    await eventually(() => chats.length === 1, 5_000, "chat:added");
    expect(chats[0]).toMatchObject({ id: chat.id, name: "lists" });
  });

  it("starts a first join after the history: older messages are not replayed as new", async ({ expect }) => {
    const alice = await user("history");
    const chat = await alice.chats.create({ name: "history", members: [] });
    await alice.chats.post(chat.id, { text: "old" });
    const socket = alice.connect();
    open.push(socket);
    const seen: MessageView[] = [];
    socket.on("message", (m) => seen.push(m));
    await socket.join(chat.id);
    await socket.send(chat.id, "new");
    await eventually(() => seen.length >= 1, 5_000, "the new message");
    expect(seen.map((m) => m.text)).toEqual(["new"]);
  });

  it("relays typing (a second one within the interval is ignored) and answers presence", async ({ expect }) => {
    const { alice, bob, chat, a, b } = await pair("typing");
    const typing: string[] = [];
    b.on("typing", (p) => typing.push(p.user.username));
    await a.typing(chat.id);
    await a.typing(chat.id); // rate_limited by the server: resolves all the same
    await eventually(() => typing.length >= 1, 5_000, "typing");
    expect(typing).toEqual([alice.user!.username]);
    await eventually(async () => (await a.presence(chat.id)).count === 2, 5_000, "both online");
    expect((await b.presence(chat.id)).users.map((u) => u.id).sort()).toEqual([alice.user!.id, bob.user!.id].sort());
  });

  it("a removed member's socket gets chat:removed and can no longer send there", async ({ expect }) => {
    const { alice, bob, chat, b } = await pair("removed");
    const removed: string[] = [];
    b.on("chat:removed", (p) => removed.push(p.chat_id));
    await alice.chats.removeMember(chat.id, bob.user!.id);
    await eventually(() => removed.length > 0, 5_000, "chat:removed");
    expect(removed).toEqual([chat.id]);
    expect(await refusal(b.send(chat.id, "still here?"))).toBe("not_in_chat");
    expect(b.connected).toBe(true);
  });

  it("refuses a join to a chat of others with chat_forbidden, and a send to a chat never joined", async ({ expect }) => {
    const { chat } = await pair("forbidden");
    const eve = await user("eve");
    const socket = eve.connect();
    open.push(socket);
    expect(await refusal(socket.join(chat.id))).toBe("chat_forbidden");
    expect(await refusal(socket.send(chat.id, "hi"))).toBe("chat_forbidden");
    const own = await eve.chats.create({ name: "own", members: [] });
    expect(await refusal(socket.send(own.id, "hi"))).toBe("not_in_chat");
  });

  it("waits 60 s for a connect attempt unless the app sets its own timeout (socket.io-client's default is 20 s)", async ({ expect }) => {
    const socket = (await user("patient")).connect();
    const own = (await signedUp({ url: node.url, socket: { timeout: 5_000 } }, "hasty")).client.connect();
    open.push(socket, own);
    // The Manager's own getter: the value its connect attempts time out by.
    expect(socket.raw.io.timeout()).toBe(60_000);
    expect(own.raw.io.timeout()).toBe(5_000);
    await eventually(() => socket.connected && own.connected, 5_000, "both connected");
  });

  it("fails a send past the gateway's 16 KiB packet limit with disconnected after a few tries, instead of resending it for ever, and carries on", async ({ expect }) => {
    const alice = await user("oversize");
    const chat = await alice.chats.create({ name: "oversize", members: [] });
    const socket = alice.connect();
    open.push(socket);
    await socket.join(chat.id);
    // Engine.IO closes a connection that sends a packet past maxHttpBufferSize: each try costs a reconnect.
    expect(await refusal(socket.send(chat.id, "x".repeat(20_000)))).toBe("disconnected");
    const seen: string[] = [];
    socket.on("message", (m) => seen.push(m.text));
    await socket.send(chat.id, "after");
    await eventually(() => seen.includes("after"), 10_000, "a normal send after it");
  });
});

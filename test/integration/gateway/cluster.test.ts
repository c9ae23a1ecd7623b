import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, type InProcessCluster, startInProcessCluster } from "../../support/fixtures";
import { chatWith, httpClient as http, type LoggedIn, registerAndLogin } from "../../support/http";
import { ask, type ClientSocket, type SocketClients } from "../../support/socket-client";
import { collect, disconnected, eventually, nextEvent } from "../../support/waits";

let cluster: InProcessCluster;
let api: InProcessCluster["api"];
let gateways: GatewayFixture[] = [];
let sockets: SocketClients;
let alice: LoggedIn;
let bob: LoggedIn;
let carol: LoggedIn;
let chatId: string;

beforeAll(async () => {
  cluster = await startInProcessCluster(3);
  ({ api, gateways, sockets } = cluster);
  [alice, bob, carol] = (await Promise.all(["alice", "bob", "carol"].map((p) => registerAndLogin(http(api.url), p)))) as [LoggedIn, LoggedIn, LoggedIn];
  chatId = await chatWith(alice, [bob, carol]);
});

afterAll(async () => {
  await cluster?.close();
});

/** One socket of `user` on each gateway, joined to `chat` when given. */
const onEveryGateway = (user: LoggedIn, chat?: string) =>
  Promise.all(gateways.map((g) => sockets.connect(g.url, { token: user.token, ...(chat ? { chatId: chat } : {}) })));

/**
 * Expects session:ended, then the server's disconnect, on each socket. Listens from the moment it
 * is called (before the revoking call); await the result once the call has returned.
 */
function endedEverywhere(open: ClientSocket[]): Promise<void> {
  const ending = Promise.all(
    open.map(async (socket) => {
      const ended = nextEvent(socket, "session:ended");
      const gone = disconnected(socket);
      expect(await ended).toEqual({ reason: "revoked" });
      expect(await gone).toBe("io server disconnect");
    }),
  ).then(() => undefined);
  ending.catch(() => undefined); // awaited by the caller once the call returned
  return ending;
}

describe("a room across three gateways", () => {
  it("delivers socket messages to the room on every gateway, in each sender's order", async () => {
    const [a1] = await onEveryGateway(alice, chatId);
    const [, b2, b3] = await onEveryGateway(bob, chatId);
    const c3 = await sockets.connect(gateways[2]!.url, { token: carol.token, chatId });
    const receivers = [a1!, b2!, b3!, c3];
    const seen = receivers.map((s) => collect(s, "message:new"));
    const texts = Array.from({ length: 20 }, (_, i) => `ordered ${i}`); // the default burst
    const acks = await Promise.all(texts.map((text) => ask(a1!, "message:send", { chat_id: chatId, text })));
    expect(acks.every((a) => a.ok)).toBe(true);
    await eventually(() => seen.every((s) => s.filter((m) => m.text.startsWith("ordered")).length === 20), 10_000, "20 messages everywhere");
    for (const s of seen) expect(s.filter((m) => m.text.startsWith("ordered")).map((m) => m.text)).toEqual(texts);
  });

  it("interleaves two senders on different gateways without reordering either", async () => {
    const a = await sockets.connect(gateways[0]!.url, { token: alice.token, chatId });
    const b = await sockets.connect(gateways[1]!.url, { token: bob.token, chatId });
    const c = await sockets.connect(gateways[2]!.url, { token: carol.token, chatId });
    const seen = collect(c, "message:new");
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => ask(a, "message:send", { chat_id: chatId, text: `a${i}` })),
      ...Array.from({ length: 10 }, (_, i) => ask(b, "message:send", { chat_id: chatId, text: `b${i}` })),
    ]);
    await eventually(() => seen.length >= 20, 10_000, "20 messages");
    const texts = seen.map((m) => m.text);
    expect(texts.filter((t) => t.startsWith("a"))).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`));
    expect(texts.filter((t) => t.startsWith("b"))).toEqual(Array.from({ length: 10 }, (_, i) => `b${i}`));
  });

  it("relays chat:typing to the room's other sockets on every gateway, and stores nothing", async () => {
    const chat = await chatWith(alice, [bob, carol], "typing");
    const [a1, a2] = await onEveryGateway(alice, chat);
    const b3 = await sockets.connect(gateways[2]!.url, { token: bob.token, chatId: chat });
    const c2 = await sockets.connect(gateways[1]!.url, { token: carol.token, chatId: chat });
    const heardBySender = collect(a1!, "typing");
    const seen = [a2!, b3, c2].map((s) => nextEvent(s, "typing"));
    expect(await ask(a1!, "chat:typing", { chat_id: chat })).toEqual({ ok: true });
    for (const event of await Promise.all(seen)) expect(event).toEqual({ chat_id: chat, user: { id: alice.user.id, username: alice.username } });
    // The sender's own socket hears nothing; nothing was stored.
    const marker = nextEvent(a1!, "message:new");
    await ask(b3, "message:send", { chat_id: chat, text: "after typing" });
    await marker;
    expect(heardBySender).toEqual([]);
    const history = await alice.http.get(`/chats/${chat}/messages`);
    expect(history.body.messages.map((m: { text: string }) => m.text)).toEqual(["after typing"]);
  });

  it("delivers a message posted over HTTP to the room on every gateway", async () => {
    const bobs = await onEveryGateway(bob, chatId);
    const heard = bobs.map((s) => nextEvent(s, "message:new"));
    const posted = await alice.http.post(`/chats/${chatId}/messages`, { text: "over http" });
    expect(posted.status).toBe(201);
    for (const message of await Promise.all(heard)) expect(message).toEqual(posted.body.message);
  });

  it("takes a removed member out of the room on every gateway", async () => {
    const dave = await registerAndLogin(http(api.url), "dave");
    const chat = await chatWith(alice, [dave], "removal");
    const daves = await onEveryGateway(dave, chat);
    const removed = daves.map((s) => nextEvent(s, "chat:removed"));
    expect((await dave.http.delete(`/chats/${chat}/members/${dave.user.id}`)).status).toBe(204);
    expect(await Promise.all(removed)).toEqual(daves.map(() => ({ chat_id: chat })));
    const heard = daves.map((s) => collect(s, "message:new"));
    const owner = await sockets.connect(gateways[0]!.url, { token: alice.token, chatId: chat });
    const echo = nextEvent(owner, "message:new");
    await ask(owner, "message:send", { chat_id: chat, text: "gone" });
    await echo;
    expect(heard.flat()).toEqual([]);
  });
});

describe("revocation across gateways", () => {
  it("ends every socket of a logged-out session on every gateway and refuses its token everywhere", async () => {
    const erin = await registerAndLogin(http(api.url), "erin");
    const other = await registerAndLogin(http(api.url), "erin2");
    // One more over long-polling only: session:ended still arrives before the close.
    const erins = [...(await onEveryGateway(erin)), await sockets.connect(gateways[2]!.url, { token: erin.token, transports: ["polling"] })];
    const bystanders = await onEveryGateway(other);
    const ending = endedEverywhere(erins);
    expect((await erin.http.post("/logout")).status).toBe(204);
    // Refused by every gateway from the moment the call returned: no cache to go stale.
    for (const g of gateways) expect((await sockets.refusal(g.url, { token: erin.token })).data).toEqual({ code: "session_revoked", status: 401 });
    await ending;
    expect(bystanders.every((s) => s.connected)).toBe(true);
  });

  it("ends only the deleted session's sockets on DELETE /sessions/:id", async () => {
    const frank = await registerAndLogin(http(api.url), "frank");
    const second = await http(api.url).post("/login", { username: frank.username, password: frank.password });
    const doomed = await onEveryGateway(frank);
    const kept = await Promise.all(gateways.map((g) => sockets.connect(g.url, { token: second.body.token })));
    const ending = endedEverywhere(doomed);
    expect((await http(api.url, second.body.token).delete(`/sessions/${frank.sessionId}`)).status).toBe(204);
    await ending;
    expect(kept.every((s) => s.connected)).toBe(true);
    expect((await ask(kept[0]!, "chat:leave", { chat_id: chatId })).ok).toBe(true);
  });

  it("ends every session's sockets on DELETE /sessions", async () => {
    const gina = await registerAndLogin(http(api.url), "gina");
    const second = await http(api.url).post("/login", { username: gina.username, password: gina.password });
    const ginas = [...(await onEveryGateway(gina)), await sockets.connect(gateways[1]!.url, { token: second.body.token })];
    const ending = endedEverywhere(ginas);
    expect((await gina.http.delete("/sessions")).status).toBe(204);
    await ending;
  });

  it("ends the session everywhere when a spent refresh token is presented again", async () => {
    const hank = await registerAndLogin(http(api.url), "hank");
    const rotated = await http(api.url).post("/token/refresh", { refresh_token: hank.refreshToken });
    expect(rotated.status).toBe(200);
    const hanks = await Promise.all(gateways.map((g) => sockets.connect(g.url, { token: rotated.body.token })));
    const ending = endedEverywhere(hanks);
    const reuse = await http(api.url).post("/token/refresh", { refresh_token: hank.refreshToken });
    expect(reuse.status).toBe(401);
    expect(reuse.body.code).toBe("session_revoked");
    await ending;
    for (const g of gateways) expect((await sockets.refusal(g.url, { token: rotated.body.token })).data?.code).toBe("session_revoked");
  });

  it("ends every socket of each of eight sessions logged out in turn, on every gateway", async () => {
    for (let round = 0; round < 8; round += 1) {
      const user = await registerAndLogin(http(api.url), "again");
      const ending = endedEverywhere(await onEveryGateway(user));
      expect((await user.http.post("/logout")).status).toBe(204);
      await ending;
    }
  });
});

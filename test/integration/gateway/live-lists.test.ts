import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServerKey } from "../../../api/server-api/server-keys";
import { type InProcessCluster, startInProcessCluster } from "../../support/fixtures";
import { httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import { collect, eventually, nextEvent } from "../../support/waits";

/** invite:new and chat:added reach every socket of the user, on every gateway, as they happen. */
let cluster: InProcessCluster;
beforeAll(async () => {
  cluster = await startInProcessCluster(3);
});
afterAll(async () => {
  await cluster?.close();
});

const api = () => httpClient(cluster.api.url);
const everywhere = (user: LoggedIn) => Promise.all(cluster.gateways.map((g) => cluster.sockets.connect(g.url, { token: user.token })));

describe("live lists", () => {
  it("tells every socket of an invitee of a new invite (once), and every socket of a new member of its chat", async () => {
    const [alice, bob, carol] = (await Promise.all(["lla", "llb", "llc"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn, LoggedIn];
    const bobs = await everywhere(bob);
    const alices = await everywhere(alice);
    const invited = bobs.map((s) => nextEvent(s, "invite:new"));
    const created = alices.map((s) => nextEvent(s, "chat:added"));
    const made = await alice.http.post("/chats", { name: "live", members: [bob.username] });
    const chatId = made.body.chat.id as string;
    // The creator's devices list the new chat at once.
    for (const c of created) expect(await c).toMatchObject({ id: chatId, name: "live" });
    for (const i of invited) expect(await i).toMatchObject({ chat: { id: chatId, name: "live" }, inviter: { id: alice.user.id, username: alice.username } });
    const [invite] = (await bob.http.get("/invites")).body.invites;
    expect((await invited[0])!.id).toBe(invite.id);

    const carols = await everywhere(carol);
    const carolSeen = carols.map((s) => collect(s, "invite:new"));
    expect((await alice.http.post(`/chats/${chatId}/invites`, { username: carol.username })).status).toBe(201);
    await eventually(() => carolSeen.every((s) => s.length === 1), 5_000, "carol's invite on every socket");
    // Asking again returns the pending invite: nothing new to tell.
    expect((await alice.http.post(`/chats/${chatId}/invites`, { username: carol.username })).status).toBe(201);
    const added = bobs.map((s) => nextEvent(s, "chat:added"));
    const answered = bobs.map((s) => nextEvent(s, "invite:closed"));
    expect((await bob.http.post(`/invites/${invite.id}/accept`)).status).toBe(200);
    for (const a of added) expect(await a).toMatchObject({ id: chatId, name: "live" });
    // Its other devices drop the invite.
    for (const a of answered) expect(await a).toEqual({ id: invite.id, chat_id: chatId, status: "accepted" });
    expect(carolSeen.every((s) => s.length === 1)).toBe(true);
  });

  it("tells every socket of an invitee when an invite is no longer pending: declined, withdrawn, or its inviter left", async () => {
    const [owner, member, frank] = (await Promise.all(["llo", "llm", "llf"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn, LoggedIn];
    const franks = await everywhere(frank);
    const closed = franks.map((s) => collect(s, "invite:closed"));
    const chatOf = async (name: string) => (await owner.http.post("/chats", { name, members: [member.username] })).body.chat.id as string;
    const pendingFor = async (chatId: string, from: LoggedIn) => {
      const res = await from.http.post(`/chats/${chatId}/invites`, { username: frank.username });
      expect(res.status).toBe(201);
      return res.body.invite.id as string;
    };
    const [c1, c2, c3] = [await chatOf("declined"), await chatOf("withdrawn"), await chatOf("left")];
    // The member of c2 and c3 must accept its own invite first.
    for (const inv of (await member.http.get("/invites")).body.invites as { id: string }[]) expect((await member.http.post(`/invites/${inv.id}/accept`)).status).toBe(200);

    const declined = await pendingFor(c1, owner);
    expect((await frank.http.post(`/invites/${declined}/decline`)).status).toBe(204);
    const withdrawn = await pendingFor(c2, member);
    expect((await owner.http.delete(`/invites/${withdrawn}`)).status).toBe(204);
    const left = await pendingFor(c3, member);
    expect((await member.http.delete(`/chats/${c3}/members/${member.user.id}`)).status).toBe(204);

    const want = [
      { id: declined, chat_id: c1, status: "declined" },
      { id: withdrawn, chat_id: c2, status: "cancelled" },
      { id: left, chat_id: c3, status: "cancelled" },
    ];
    await eventually(() => closed.every((s) => s.length >= want.length), 5_000, "three invite:closed on every socket");
    for (const s of closed) expect(s).toEqual(want);
    expect((await frank.http.get("/invites")).body.invites).toEqual([]);
  });

  it("tells the members of a chat the app's backend made or grew", async () => {
    const admin = api().as((await createServerKey(cluster.database.db, "lists", ["moderate"])).key);
    const [dan, eve] = (await Promise.all(["lld", "lle"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn];
    const dans = await everywhere(dan);
    const eves = await everywhere(eve);
    const danAdded = dans.map((s) => nextEvent(s, "chat:added"));
    const made = await admin.post("/server/v1/chats", { name: "support", members: [dan.user.id] });
    for (const a of danAdded) expect(await a).toMatchObject({ id: made.body.chat.id, name: "support" });
    const eveAdded = eves.map((s) => nextEvent(s, "chat:added"));
    expect((await admin.put(`/server/v1/chats/${made.body.chat.id}/members/${eve.user.id}`)).status).toBe(201);
    for (const a of eveAdded) expect(await a).toMatchObject({ id: made.body.chat.id });
  });
});

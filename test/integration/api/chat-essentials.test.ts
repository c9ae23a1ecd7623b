import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageView } from "../../../shared/contract/views";
import { type SingleNode, startInProcessCluster, startSingleNode } from "../../support/fixtures";
import { ask, type ClientSocket } from "../../support/socket-client";
import { chatWith, type HttpClient, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import { clockPasses, collect, nextEvent } from "../../support/waits";

/**
 * Chat essentials over HTTP, on one node as npm start runs it (api and gateway on one port): the
 * codes of each refusal, the edit window (EDIT_WINDOW=1s here), owner deletions, reactions'
 * bounds, read positions, blocks, and the report flow (a resolution that deletes the message is
 * announced to the room).
 */

let node: SingleNode;
let http: HttpClient;

beforeAll(async () => {
  node = await startSingleNode({ env: { EDIT_WINDOW: "1s" } });
  http = httpClient(node.url);
});
afterAll(async () => {
  await node?.close();
});

const users = (...prefixes: string[]) => Promise.all(prefixes.map((p) => registerAndLogin(http, p)));
const post = async (user: LoggedIn, chat: string, text: string): Promise<MessageView> => {
  const res = await user.http.post(`/chats/${chat}/messages`, { text });
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${res.text}`);
  return res.body.message;
};
const patch = (user: LoggedIn, path: string, body: unknown) => user.http.request("PATCH", path, body);

describe("edits and deletions over HTTP", () => {
  it("lets the sender edit within the window, never others; refuses with 400, 403 and 404 as the contract says", async () => {
    const [owner, member, outsider] = (await users("eo", "em", "ex")) as [LoggedIn, LoggedIn, LoggedIn];
    const chat = await chatWith(owner, [member], "edits");
    const mine = await post(member, chat, "typo");
    const path = `/chats/${chat}/messages/${mine.id}`;

    const edited = await patch(member, path, { text: "fixed" });
    expect(edited.status).toBe(200);
    expect(edited.body.message).toMatchObject({ id: mine.id, text: "fixed", created_at: mine.created_at, edited_at: expect.any(String), deleted: false });
    expect((await patch(owner, path, { text: "owner's words" })).body).toMatchObject({ code: "forbidden" });
    expect((await patch(owner, path, { text: "owner's words" })).status).toBe(403);
    expect((await patch(outsider, path, { text: "x" })).status).toBe(404);
    expect((await patch(member, `/chats/${randomUUID()}/messages/${mine.id}`, { text: "x" })).status).toBe(404);
    expect((await patch(member, `/chats/not-a-chat/messages/${mine.id}`, { text: "x" })).status).toBe(404);
    for (const bad of ["abc", "0", "-1", "01", "1.5", "99999999999999999999"]) expect((await patch(member, `/chats/${chat}/messages/${bad}`, { text: "x" })).status, bad).toBe(404);
    expect((await patch(member, `/chats/${chat}/messages/9223372036854775807`, { text: "x" })).status).toBe(404);
    for (const body of [{}, { text: "" }, { text: "x".repeat(4001) }, { text: "x", extra: 1 }, { text: 5 }]) {
      const res = await patch(member, path, body);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(res.body.code).toBe("invalid_body");
    }

    // The window (1 s here) must really run out: the database's clock decides.
    await clockPasses(1_100, "the 1 s edit window must run out on the database's clock");
    const late = await patch(member, path, { text: "too late" });
    expect(late.status).toBe(403);
    expect(late.body.code).toBe("forbidden");
    expect((await member.http.get(`/chats/${chat}/messages`)).body.messages[0]).toMatchObject({ id: mine.id, text: "fixed" });
  });

  it("lets the sender or the owner delete (a tombstone, announced once), never another member", async () => {
    const [owner, member, third] = (await users("do", "dm", "dt")) as [LoggedIn, LoggedIn, LoggedIn];
    const chat = await chatWith(owner, [member, third], "deletions");
    const socket = await node.sockets.connect(node.url, { token: third.token, chatId: chat });
    const heard = collect(socket, "message:deleted");
    const a = await post(member, chat, "member's");
    const b = await post(third, chat, "third's");
    expect((await member.http.delete(`/chats/${chat}/messages/${b.id}`)).status).toBe(403);
    expect((await member.http.delete(`/chats/${chat}/messages/${b.id}`)).body.code).toBe("forbidden");
    // The owner deletes another's message; the sender its own.
    let next = nextEvent(socket, "message:deleted");
    expect((await owner.http.delete(`/chats/${chat}/messages/${a.id}`)).status).toBe(204);
    expect(await next).toEqual({ chat_id: chat, message_id: a.id });
    next = nextEvent(socket, "message:deleted");
    expect((await third.http.delete(`/chats/${chat}/messages/${b.id}`)).status).toBe(204);
    expect(await next).toEqual({ chat_id: chat, message_id: b.id });
    // Again: nothing changes, nothing is announced (the post below comes after on the same route).
    expect((await third.http.delete(`/chats/${chat}/messages/${b.id}`)).status).toBe(204);
    const marker = nextEvent(socket, "message:new");
    await post(owner, chat, "marker");
    await marker;
    expect(heard.map((d) => d.message_id)).toEqual([a.id, b.id]);
    const history = (await third.http.get(`/chats/${chat}/messages`)).body.messages as MessageView[];
    expect(history.filter((m) => m.deleted).map((m) => ({ id: m.id, text: m.text, reactions: m.reactions }))).toEqual([
      { id: b.id, text: "", reactions: [] },
      { id: a.id, text: "", reactions: [] },
    ]);
    // A tombstone takes no edit, no reaction, no report.
    expect((await patch(third, `/chats/${chat}/messages/${b.id}`, { text: "back" })).status).toBe(404);
    expect((await owner.http.post(`/chats/${chat}/messages/${b.id}/reactions`, { emoji: "👍" })).status).toBe(404);
    expect((await owner.http.post(`/chats/${chat}/messages/${b.id}/report`, { reason: "x" })).status).toBe(404);
  });
});

describe("reactions over HTTP", () => {
  it("counts emoji per message, bounds them (20 different, 5 per user), and refuses what is not one emoji", async () => {
    const [owner, member] = (await users("xo", "xm")) as [LoggedIn, LoggedIn];
    const chat = await chatWith(owner, [member], "reactions");
    const m = await post(owner, chat, "react to me");
    const path = `/chats/${chat}/messages/${m.id}/reactions`;
    expect((await member.http.post(path, { emoji: "👍" })).body).toEqual({ chat_id: chat, message_id: m.id, reactions: [{ emoji: "👍", count: 1, me: true }] });
    // Again: the same (idempotent); on: false takes it off.
    expect((await member.http.post(path, { emoji: "👍", on: true })).body.reactions).toEqual([{ emoji: "👍", count: 1, me: true }]);
    expect((await owner.http.post(path, { emoji: "👍" })).body.reactions).toEqual([{ emoji: "👍", count: 2, me: true }]);
    expect((await member.http.post(path, { emoji: "👍", on: false })).body.reactions).toEqual([{ emoji: "👍", count: 1, me: false }]);
    for (const emoji of ["a", "", "👍👍", ":)", "x".repeat(65), "\u0000", "1"]) {
      const res = await member.http.post(path, { emoji });
      expect(res.status, JSON.stringify(emoji)).toBe(400);
      expect(res.body.code).toBe("invalid_body");
    }
    expect((await member.http.post(path, { emoji: "👍", on: "yes" })).status).toBe(400);
    // Five per user.
    const five = ["😀", "😂", "😍", "🤔", "🙏"];
    for (const emoji of five) expect((await member.http.post(path, { emoji })).status).toBe(200);
    const sixth = await member.http.post(path, { emoji: "🔥" });
    expect(sixth.status).toBe(403);
    expect(sixth.body.code).toBe("forbidden");
    // Twenty different on one message: 👍 and member's five are six; three others add fourteen more, then the fifteenth is refused.
    const more = await users("x1", "x2", "x3");
    for (const u of more) expect((await owner.http.post(`/chats/${chat}/invites`, { username: u.username })).status).toBe(201);
    for (const u of more) {
      const [invite] = (await u.http.get("/invites")).body.invites;
      expect((await u.http.post(`/invites/${invite.id}/accept`)).status).toBe(200);
    }
    const pool = ["🎉", "🚀", "👀", "💯", "✅", "❤️", "🙌", "😎", "😢", "😡", "🤯", "🥳", "🍕", "🌟", "🌈"];
    const reactors = more;
    let added = 0;
    for (const [i, emoji] of pool.entries()) {
      const res = await reactors[Math.floor(i / 5)]!.http.post(path, { emoji });
      if (6 + added < 20) {
        expect(res.status, emoji).toBe(200);
        added += 1;
      } else {
        expect(res.status, emoji).toBe(403);
        expect(res.body.code).toBe("forbidden");
      }
    }
    expect(added).toBe(14);
    // An emoji already there can still be added by another user.
    expect((await more[2]!.http.post(path, { emoji: "👍" })).status).toBe(200);
    const view = (await owner.http.get(`/chats/${chat}/messages`)).body.messages[0] as MessageView;
    expect(view.reactions).toHaveLength(20);
    expect(view.reactions[0]).toEqual({ emoji: "👍", count: 2, me: true });
    expect(view.reactions.map((r) => r.emoji)).toEqual(["👍", ...five, ...pool.slice(0, 14)]);
  });
});

describe("the change log", () => {
  it("keeps one row per message and kind and per member's read position; a catch-up from before them all brings each once, as it is now", async () => {
    const [owner, member] = (await users("lo", "lm")) as [LoggedIn, LoggedIn];
    const chat = await chatWith(owner, [member], "log");
    const [m1, m2] = [await post(member, chat, "one"), await post(member, chat, "two")];
    const watcher = await node.sockets.connect(node.url, { token: owner.token });
    const first = await ask(watcher, "chat:join", { chat_id: chat });
    if (!first.ok) throw new Error(first.error.code);

    for (const text of ["one.", "one..", "one..."]) expect((await patch(member, `/chats/${chat}/messages/${m1.id}`, { text })).status).toBe(200);
    for (const [emoji, on] of [["👍", true], ["👍", false], ["🎉", true]] as const) {
      expect((await member.http.post(`/chats/${chat}/messages/${m1.id}/reactions`, { emoji, on })).status).toBe(200);
    }
    expect((await owner.http.post(`/chats/${chat}/messages/${m2.id}/reactions`, { emoji: "👀" })).status).toBe(200);
    expect((await patch(member, `/chats/${chat}/messages/${m2.id}`, { text: "two." })).status).toBe(200);
    for (const id of [m1.id, m2.id]) expect((await member.http.put(`/chats/${chat}/read`, { message_id: id })).status).toBe(200);
    expect((await owner.http.put(`/chats/${chat}/read`, { message_id: m2.id })).status).toBe(200);
    // The deletion ends m2's edit and reactions.
    expect((await member.http.delete(`/chats/${chat}/messages/${m2.id}`)).status).toBe(204);

    const { rows } = await sql<{ type: string; message_id: string; user_id: string }>`
      select type, message_id::text as message_id, user_id from chat_changes where chat_id = ${chat} order by seq`.execute(node.database.db);
    expect(rows.map((r) => (r.type === "message:read" ? `read ${r.user_id}` : `${r.type} ${r.message_id}`)).sort()).toEqual(
      [`message:updated ${m1.id}`, `message:reactions ${m1.id}`, `message:deleted ${m2.id}`, `read ${member.user.id}`, `read ${owner.user.id}`].sort(),
    );

    const caught = await ask(watcher, "chat:join", { chat_id: chat, cursor: first.cursor });
    if (!caught.ok) throw new Error(caught.error.code);
    expect(caught.changes).toEqual([
      { type: "message:updated", data: expect.objectContaining({ id: m1.id, text: "one...", reactions: [{ emoji: "🎉", count: 1, me: false }] }) },
      // In a catch-up, `me` (and `user_id`) are the caller's.
      { type: "message:reactions", data: { chat_id: chat, message_id: m1.id, user_id: owner.user.id, reactions: [{ emoji: "🎉", count: 1, me: false }] } },
      { type: "message:read", data: { chat_id: chat, user_id: member.user.id, message_id: m2.id } },
      { type: "message:read", data: { chat_id: chat, user_id: owner.user.id, message_id: m2.id } },
      { type: "message:deleted", data: { chat_id: chat, message_id: m2.id } },
    ]);
  });
});

describe("read positions over HTTP", () => {
  it("moves forward only, never past the last message, and shows in GET /chats and the member list", async () => {
    const [owner, member, outsider] = (await users("ro", "rm", "rx")) as [LoggedIn, LoggedIn, LoggedIn];
    const chat = await chatWith(owner, [member], "reads");
    // A chat with no message yet: nothing to read, and the answer says so with null (not a made-up id).
    expect((await member.http.put(`/chats/${chat}/read`, { message_id: "5" })).body).toEqual({ chat_id: chat, message_id: null });
    const ms = [await post(owner, chat, "one"), await post(owner, chat, "two"), await post(owner, chat, "three")];
    const listed = () => member.http.get("/chats").then((r) => r.body.chats.find((c: { id: string }) => c.id === chat));
    expect(await listed()).toMatchObject({ unread_count: 3, read_message_id: null, last_message: { id: ms[2]!.id } });
    expect((await member.http.put(`/chats/${chat}/read`, { message_id: ms[1]!.id })).body).toEqual({ chat_id: chat, message_id: ms[1]!.id });
    expect((await member.http.put(`/chats/${chat}/read`, { message_id: ms[0]!.id })).body).toEqual({ chat_id: chat, message_id: ms[1]!.id });
    expect(await listed()).toMatchObject({ unread_count: 1, read_message_id: ms[1]!.id });
    // Past the last message: the last message.
    expect((await member.http.put(`/chats/${chat}/read`, { message_id: "9223372036854775807" })).body).toEqual({ chat_id: chat, message_id: ms[2]!.id });
    expect(await listed()).toMatchObject({ unread_count: 0, read_message_id: ms[2]!.id });
    const members = (await owner.http.get(`/chats/${chat}`)).body.members as { user_id: string; read_message_id: string | null }[];
    expect(members.find((m) => m.user_id === member.user.id)!.read_message_id).toBe(ms[2]!.id);
    expect(members.find((m) => m.user_id === owner.user.id)!.read_message_id).toBe(null);
    expect((await outsider.http.put(`/chats/${chat}/read`, { message_id: ms[0]!.id })).status).toBe(404);
    for (const body of [{}, { message_id: "abc" }, { message_id: 5 }, { message_id: "0" }]) {
      const res = await member.http.put(`/chats/${chat}/read`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("invalid_body");
    }
  });
});

describe("blocks over HTTP", () => {
  it("blocks and unblocks idempotently; refuses oneself (400) and unknown users (404)", async () => {
    const [me, other] = (await users("bm", "bo")) as [LoggedIn, LoggedIn];
    const first = await me.http.put(`/me/blocks/${other.user.id}`);
    expect(first.status).toBe(200);
    expect(first.body.block).toEqual({ user: { id: other.user.id, username: other.username }, created_at: expect.any(String) });
    expect((await me.http.put(`/me/blocks/${other.user.id}`)).body).toEqual(first.body);
    expect((await me.http.get("/me/blocks")).body.blocks).toEqual([first.body.block]);
    const self = await me.http.put(`/me/blocks/${me.user.id}`);
    expect(self.status).toBe(400);
    expect(self.body.code).toBe("invalid_body");
    expect((await me.http.put(`/me/blocks/${randomUUID()}`)).status).toBe(404);
    expect((await me.http.put("/me/blocks/not-a-user")).status).toBe(404);
    expect((await me.http.delete(`/me/blocks/${other.user.id}`)).status).toBe(204);
    expect((await me.http.delete(`/me/blocks/${other.user.id}`)).status).toBe(204);
    expect((await me.http.get("/me/blocks")).body.blocks).toEqual([]);
    expect((await http.get("/me/blocks")).status).toBe(401);
  });
});

describe("reports over HTTP", () => {
  it("takes one report per member and message, lists them to the owner only, and resolves them (deleting the message, announced)", async () => {
    const [owner, reporter, sender, outsider] = (await users("po", "pr", "ps", "px")) as [LoggedIn, LoggedIn, LoggedIn, LoggedIn];
    const chat = await chatWith(owner, [reporter, sender], "reports");
    const m = await post(sender, chat, "something rude");
    const path = `/chats/${chat}/messages/${m.id}/report`;
    const made = await reporter.http.post(path, { reason: "rude" });
    expect(made.status).toBe(201);
    expect(made.body.report).toEqual({
      id: expect.any(String),
      chat_id: chat,
      message_id: m.id,
      sender: { id: sender.user.id, username: sender.username },
      text: "something rude",
      reporter: { id: reporter.user.id, username: reporter.username },
      reason: "rude",
      created_at: expect.any(String),
      status: "open",
      resolved_at: null,
      resolution: null,
    });
    // Again: the first report, 200.
    const again = await reporter.http.post(path, { reason: "still rude" });
    expect(again.status).toBe(200);
    expect(again.body.report).toEqual(made.body.report);
    expect((await outsider.http.post(path, { reason: "x" })).status).toBe(404);
    for (const body of [{}, { reason: "" }, { reason: "x".repeat(1001) }]) expect((await reporter.http.post(path, body)).status, JSON.stringify(body).slice(0, 40)).toBe(400);
    expect((await reporter.http.post(`/chats/${chat}/messages/9223372036854775807/report`, { reason: "x" })).status).toBe(404);

    // Only the owner lists and resolves: 403 to other members, 404 to outsiders.
    const byMember = await reporter.http.get(`/chats/${chat}/reports`);
    expect(byMember.status).toBe(403);
    expect(byMember.body.code).toBe("forbidden");
    expect((await outsider.http.get(`/chats/${chat}/reports`)).status).toBe(404);
    expect((await reporter.http.post(`/chats/${chat}/reports/${made.body.report.id}/resolve`, {})).status).toBe(403);
    const listed = await owner.http.get(`/chats/${chat}/reports`);
    expect(listed.status).toBe(200);
    expect(listed.body.reports).toEqual([made.body.report]);
    expect((await owner.http.post(`/chats/${chat}/reports/${randomUUID()}/resolve`, {})).status).toBe(404);

    // Resolved with the message deleted: the room hears message:deleted.
    const socket = await node.sockets.connect(node.url, { token: reporter.token, chatId: chat });
    const deleted = nextEvent(socket, "message:deleted");
    const resolved = await owner.http.post(`/chats/${chat}/reports/${made.body.report.id}/resolve`, { resolution: "removed", delete_message: true });
    expect(resolved.status).toBe(200);
    expect(resolved.body.report).toMatchObject({ id: made.body.report.id, status: "resolved", resolution: "removed", resolved_at: expect.any(String), text: "something rude" });
    expect(await deleted).toEqual({ chat_id: chat, message_id: m.id });
    expect((await owner.http.get(`/chats/${chat}/reports`)).body.reports).toEqual([]);
    expect((await owner.http.get(`/chats/${chat}/reports?status=resolved`)).body.reports.map((r: { id: string }) => r.id)).toEqual([made.body.report.id]);
    expect((await sender.http.get(`/chats/${chat}/messages`)).body.messages[0]).toMatchObject({ id: m.id, deleted: true, text: "" });
    // Resolving again keeps the first resolution.
    const twice = await owner.http.post(`/chats/${chat}/reports/${made.body.report.id}/resolve`, { resolution: "other" });
    expect(twice.body.report).toEqual(resolved.body.report);
  });
});

describe("the change limit", () => {
  const LIMIT_ENV = { CHANGE_LIMIT_PER_USER: "4", CHANGE_LIMIT_WINDOW: "1m" };

  /** Four changes of one user (an edit, a reaction, a report over HTTP, a reaction on `socket`), then the fifth refused over HTTP and on `socket2`. */
  async function spendAndRefuse(url: string, connect: (token: string, chat: string) => Promise<{ first: ClientSocket; second: ClientSocket }>) {
    const api = httpClient(url);
    const [owner, member] = (await Promise.all(["lo", "lm"].map((p) => registerAndLogin(api, p)))) as [LoggedIn, LoggedIn];
    const chat = await chatWith(owner, [member], "limit");
    const id = (await member.http.post(`/chats/${chat}/messages`, { text: "m" })).body.message.id as string;
    const { first, second } = await connect(member.token, chat);
    expect((await member.http.request("PATCH", `/chats/${chat}/messages/${id}`, { text: "e" })).status).toBe(200);
    expect((await member.http.post(`/chats/${chat}/messages/${id}/reactions`, { emoji: "👍" })).status).toBe(200);
    expect((await member.http.post(`/chats/${chat}/messages/${id}/report`, { reason: "r" })).status).toBe(201);
    expect((await ask(first, "message:react", { chat_id: chat, message_id: id, emoji: "🎉" })).ok).toBe(true);
    const refused = await member.http.delete(`/chats/${chat}/messages/${id}`);
    expect({ status: refused.status, code: refused.body?.code }).toEqual({ status: 429, code: "rate_limited" });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await ask(second, "message:react", { chat_id: chat, message_id: id, emoji: "🚀" })).toMatchObject({ ok: false, error: { code: "rate_limited" } });
    // Another user has a count of its own.
    expect((await owner.http.post(`/chats/${chat}/messages/${id}/reactions`, { emoji: "👍" })).status).toBe(200);
  }

  it("counts edits, deletions, reactions and reports of a user together, over HTTP and sockets on every gateway (Redis)", async () => {
    const cluster = await startInProcessCluster(2, LIMIT_ENV);
    try {
      await spendAndRefuse(cluster.api.url, async (token, chatId) => ({
        first: await cluster.sockets.connect(cluster.gateways[0]!.url, { token, chatId }),
        second: await cluster.sockets.connect(cluster.gateways[1]!.url, { token, chatId }),
      }));
    } finally {
      await cluster.close();
    }
  });

  it("counts them together on one node as npm start runs it, too", async () => {
    const single = await startSingleNode({ env: LIMIT_ENV });
    try {
      await spendAndRefuse(single.url, async (token, chatId) => {
        const socket = await single.sockets.connect(single.url, { token, chatId });
        return { first: socket, second: socket };
      });
    } finally {
      await single.close();
    }
  });
});

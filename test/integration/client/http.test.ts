import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, type Client, createClient, type EndReason, type StoredTokens } from "../../../client/index";
import { type SingleNode, startSingleNode } from "../../support/fixtures";
import { newCredentials } from "../../support/http";

let node: SingleNode;

beforeAll(async () => {
  node = await startSingleNode();
});
afterAll(async () => {
  await node?.close();
});

/** A registered, logged-in client, with every "tokens" and "ended" event it emits. */
async function loggedIn(prefix: string) {
  const client = createClient({ url: node.url });
  const tokens: (StoredTokens | null)[] = [];
  const ended: EndReason[] = [];
  client.on("tokens", (t) => tokens.push(t));
  client.on("ended", (e) => ended.push(e.reason));
  const creds = newCredentials(prefix);
  const user = await client.register(creds);
  await client.login({ username: creds.username, password: creds.password });
  return { client, user, creds, tokens, ended };
}

const failure = async (p: Promise<unknown>): Promise<ApiError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
};

describe("the typed client's HTTP calls", () => {
  it("keeps its device value and brings it back, so strangers' failures do not lock it out", async () => {
    const { client, creds } = await loggedIn("device");
    expect(client.device).toMatch(/^v1\./);
    const stranger = createClient({ url: node.url });
    for (let i = 0; i < 6; i += 1) expect((await failure(stranger.login({ username: creds.username, password: `Wrong-guess-${i}!` }))).code).toBe("invalid_credentials");
    expect((await failure(stranger.login({ username: creds.username, password: creds.password }))).code).toBe("invalid_credentials");
    // The same client, and a new one that was given the persisted device value, get in.
    await client.login({ username: creds.username, password: creds.password });
    const resumed = createClient({ url: node.url, device: client.device! });
    expect((await resumed.login({ username: creds.username, password: creds.password })).user.username).toBe(creds.username);
  });


  it("registers, and a weak password is an ApiError carrying zxcvbn's feedback", async () => {
    const client = createClient({ url: node.url });
    const creds = newCredentials("reg");
    const user = await client.register(creds);
    expect(user).toMatchObject({ username: creds.username, email: creds.email });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);

    const weak = await failure(client.register({ ...newCredentials("weak"), password: "password1" }));
    expect(weak).toMatchObject({ code: "weak_password", status: 400 });
    expect(weak.problem.feedback).toMatchObject({ score: expect.any(Number) });

    const taken = await failure(client.register({ ...newCredentials("dup"), username: creds.username }));
    expect(taken).toMatchObject({ code: "username_taken", status: 409 });
    expect(client.user).toBeNull();
  });

  it("logs in (tokens stored and announced) and calls /me with the access token", async () => {
    const { client, user, tokens } = await loggedIn("login");
    expect(client.user).toEqual(user);
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ session_id: expect.any(String), user });
    expect(client.tokens).toEqual(tokens[0]);
    expect(await client.me()).toEqual(user);

    const wrong = await failure(createClient({ url: node.url }).login({ username: user.username, password: "not the password at all" }));
    expect(wrong).toMatchObject({ code: "invalid_credentials", status: 401 });
    // Not logged in: a protected call fails without reaching for a token.
    expect(await failure(createClient({ url: node.url }).me())).toMatchObject({ code: "unauthorized" });
  });

  it("creates a chat, invites, accepts, and exchanges messages over HTTP", async () => {
    const alice = await loggedIn("alice");
    const bob = await loggedIn("bob");
    const chat = await alice.client.chats.create({ name: "plans", members: [] });
    expect(chat).toMatchObject({ name: "plans", created_by: alice.user.id });

    const invite = await alice.client.chats.invite(chat.id, bob.user.username);
    expect(invite).toMatchObject({ chat: { id: chat.id }, inviter: { id: alice.user.id } });
    expect((await alice.client.chats.invites(chat.id)).map((i) => i.id)).toEqual([invite.id]);
    expect((await bob.client.invites.list()).map((i) => i.id)).toEqual([invite.id]);
    expect(await bob.client.invites.accept(invite.id)).toMatchObject({ id: chat.id });
    expect(await failure(alice.client.chats.invite(chat.id, bob.user.username))).toMatchObject({ code: "already_member", status: 409 });

    const detail = await bob.client.chats.get(chat.id);
    expect(detail.members.map((m) => m.username).sort()).toEqual([alice.user.username, bob.user.username].sort());
    expect((await bob.client.chats.list()).map((c) => c.id)).toContain(chat.id);

    const first = await alice.client.chats.post(chat.id, { text: "one" });
    const second = await bob.client.chats.post(chat.id, { text: "two", client_id: "bob-2" });
    expect(second).toMatchObject({ text: "two", client_id: "bob-2", sender: { id: bob.user.id } });
    expect((await alice.client.chats.messages(chat.id)).map((m) => m.text)).toEqual(["two", "one"]);
    expect((await alice.client.chats.messages(chat.id, { after: first.id })).map((m) => m.id)).toEqual([second.id]);
    expect((await alice.client.chats.messages(chat.id, { limit: 1 })).map((m) => m.id)).toEqual([second.id]);
    expect(await alice.client.chats.presence(chat.id)).toMatchObject({ chat_id: chat.id, count: 0 });

    // A stranger sees no chat at all.
    const eve = await loggedIn("eve");
    expect(await failure(eve.client.chats.messages(chat.id))).toMatchObject({ code: "not_found", status: 404 });
  });

  it("lists sessions and revokes another one: that client's next call ends its session", async () => {
    const first = await loggedIn("sess");
    const second = createClient({ url: node.url });
    const ended: EndReason[] = [];
    second.on("ended", (e) => ended.push(e.reason));
    await second.login({ username: first.creds.username, password: first.creds.password });

    const sessions = await first.client.sessions.list();
    expect(sessions).toHaveLength(2);
    expect(sessions.find((s) => s.current)?.id).toBe(first.client.tokens?.session_id);
    await first.client.sessions.revoke(second.tokens!.session_id);
    expect((await first.client.sessions.list()).map((s) => s.id)).toEqual([first.client.tokens?.session_id]);

    expect(await failure(second.me())).toMatchObject({ code: "session_revoked" });
    expect(ended).toEqual(["revoked"]);
    expect(second.tokens).toBeNull();
    expect(first.ended).toEqual([]);
  });

  it("refresh rotates both tokens in the same session; parallel callers share one refresh", async () => {
    const { client, tokens } = await loggedIn("rot");
    const before = client.tokens!;
    // Two /token/refresh with the same refresh token would revoke the session: these must be one.
    const [a, b] = await Promise.all([client.refresh(), client.refresh()]);
    expect(a).toBe(b);
    expect(a.session_id).toBe(before.session_id);
    expect(a.token).not.toBe(before.token);
    expect(a.refresh_token).not.toBe(before.refresh_token);
    expect(client.tokens).toMatchObject({ token: a.token, refresh_token: a.refresh_token });
    expect(tokens.at(-1)).toEqual(client.tokens);
    expect(await client.me()).toMatchObject({ id: before.user.id });
    expect((await client.refresh()).session_id).toBe(before.session_id);
  });

  it("restores stored tokens in a new client (as after a page reload)", async () => {
    const { client } = await loggedIn("restore");
    const stored = JSON.parse(JSON.stringify(client.tokens)) as StoredTokens;
    const reloaded: Client = createClient({ url: node.url });
    reloaded.restore(stored);
    expect(reloaded.user).toEqual(stored.user);
    expect(await reloaded.me()).toEqual(stored.user);
  });

  it("logout revokes the session, clears the tokens and emits ended (logged_out)", async () => {
    const { client, tokens, ended } = await loggedIn("logout");
    const stored = client.tokens!;
    await client.logout();
    expect(client.tokens).toBeNull();
    expect(client.user).toBeNull();
    expect(tokens.at(-1)).toBeNull();
    expect(ended).toEqual(["logged_out"]);
    // The old tokens are dead on the server too.
    const other = createClient({ url: node.url });
    other.restore(stored);
    expect(await failure(other.me())).toMatchObject({ code: "session_revoked" });
  });

  it("revoking every session is a logout here and ends the others on their next call", async () => {
    const { client, creds, ended } = await loggedIn("all");
    const second = createClient({ url: node.url });
    const secondEnded: EndReason[] = [];
    second.on("ended", (e) => secondEnded.push(e.reason));
    await second.login({ username: creds.username, password: creds.password });
    await client.sessions.revokeAll();
    expect(ended).toEqual(["logged_out"]);
    expect(client.tokens).toBeNull();
    expect(await failure(second.me())).toMatchObject({ code: "session_revoked" });
    expect(secondEnded).toEqual(["revoked"]);
  });

  it("changes the password: other sessions end, this one stays", async () => {
    const first = await loggedIn("pw");
    const second = createClient({ url: node.url });
    await second.login({ username: first.creds.username, password: first.creds.password });
    const weak = await failure(first.client.changePassword({ current_password: first.creds.password, new_password: "password" }));
    expect(weak.code).toBe("weak_password");
    const next = newCredentials("pw2").password;
    await first.client.changePassword({ current_password: first.creds.password, new_password: next });
    expect(await first.client.me()).toMatchObject({ id: first.user.id });
    expect(await failure(second.me())).toMatchObject({ code: "session_revoked" });
  });
});

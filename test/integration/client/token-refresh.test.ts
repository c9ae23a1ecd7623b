import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChatSocket, type Client, type SocketStatus } from "../../../client/index";
import type { MessageView } from "../../../shared/contract/views";
import { type SingleNode, startSingleNode } from "../../support/fixtures";
import { signedUp } from "../../support/typed-client";
import { clockPasses, eventually } from "../../support/waits";

/** Short enough that 30 s of chat spans several refreshes (the client refreshes a third of the lifetime ahead). */
const TTL_SECONDS = 6;
const CHAT_FOR_MS = 30_000;

let node: SingleNode;
const open: ChatSocket[] = [];

beforeAll(async () => {
  node = await startSingleNode({ env: { ACCESS_TOKEN_TTL: `${TTL_SECONDS}s` } });
});
afterAll(async () => {
  for (const socket of open) socket.close();
  await node?.close();
});

async function user(prefix: string): Promise<Client> {
  return (await signedUp({ url: node.url }, prefix)).client;
}

/** A connected socket in `chatId` and everything an app would observe on it. */
async function chatter(client: Client, chatId: string) {
  const socket = client.connect();
  open.push(socket);
  const seen = { messages: [] as MessageView[], statuses: [] as SocketStatus[], refreshed: 0, disconnects: 0, errors: [] as Error[], tokens: 0 };
  socket.on("message", (m) => seen.messages.push(m));
  socket.on("status", (s) => seen.statuses.push(s));
  socket.on("refreshed", () => (seen.refreshed += 1));
  socket.on("error", (err) => seen.errors.push(err));
  socket.raw.on("disconnect", () => (seen.disconnects += 1));
  client.on("tokens", () => (seen.tokens += 1));
  await socket.join(chatId);
  return { socket, seen };
}

describe("in-band token refresh", () => {
  it(
    "keeps a socket connected and chatting through several access token lifetimes",
    async () => {
      const alice = await user("alice");
      const bob = await user("bob");
      const chat = await alice.chats.create({ name: "long talk", members: [bob.user!.username] });
      const [invite] = await bob.invites.list();
      await bob.invites.accept(invite!.id);

      const a = await chatter(alice, chat.id);
      const b = await chatter(bob, chat.id);
      const sent = { alice: [] as string[], bob: [] as string[] };
      const started = Date.now();
      for (let i = 0; Date.now() - started < CHAT_FOR_MS; i++) {
        const [who, socket] = i % 2 === 0 ? (["alice", a.socket] as const) : (["bob", b.socket] as const);
        const text = `${who} ${i}`;
        const message = await socket.send(chat.id, text);
        expect(message.text).toBe(text);
        sent[who].push(text);
        // The lifetimes must really pass: the client's refresh timers, the gateway's expiry wheel and the
        // token checks all run on the real clock, beside real sockets.
        await clockPasses(500, "the pace of the chat: a message every half second for 30 s");
      }

      const from = (seen: MessageView[], name: string) => seen.filter((m) => m.sender.username === name).map((m) => m.text);
      await eventually(() => from(a.seen.messages, bob.user!.username).length >= sent.bob.length && from(b.seen.messages, alice.user!.username).length >= sent.alice.length, 10_000, "every message on the other side");
      // Each message once, in each sender's order (the sender's own copies included).
      expect(from(a.seen.messages, bob.user!.username)).toEqual(sent.bob);
      expect(from(b.seen.messages, alice.user!.username)).toEqual(sent.alice);
      expect(from(a.seen.messages, alice.user!.username)).toEqual(sent.alice);
      expect(new Set(b.seen.messages.map((m) => m.id)).size).toBe(b.seen.messages.length);

      // The lifetimes passed without a single drop: every refresh went in band.
      const lifetimes = Math.floor(CHAT_FOR_MS / (TTL_SECONDS * 1000));
      for (const { socket, seen } of [a, b]) {
        expect(seen.disconnects).toBe(0);
        expect(seen.statuses).toEqual(["connected"]);
        expect(seen.errors).toEqual([]);
        expect(socket.connected).toBe(true);
        expect(seen.refreshed).toBeGreaterThanOrEqual(lifetimes);
        expect(seen.tokens).toBeGreaterThanOrEqual(lifetimes);
      }
      // Still the same session, and its token still works over HTTP.
      expect(await alice.me()).toMatchObject({ id: alice.user!.id });
      expect((await alice.sessions.list()).filter((s) => s.current)).toHaveLength(1);
    },
    CHAT_FOR_MS + 30_000,
  );
});

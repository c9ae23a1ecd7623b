import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServerKey } from "../../api/server-api/server-keys";
import { SYSTEM_USER_ID } from "../../api/server-api/server.service";
import type { ServerAnswer } from "../../shared/contract/server";
import { ROOT } from "../support/build";
import { listening } from "../support/cluster";
import { clusterForFile } from "../support/cluster-file";
import { chatWith, type HttpClient, httpClient, registerAndLogin } from "../support/http";
import { freePort } from "../support/redis-server";
import { ask, type ClientSocket } from "../support/socket-client";
import { collect, eventually } from "../support/waits";

// examples/echo-bot/echo-bot.mjs against the real cluster (pm2 + nginx, PostgreSQL, a redis-server of
// this file's own): the webhook worker delivers message.created to the bot, which answers through
// the server API behind nginx, and the answer reaches the sender's socket like any message.

const file = clusterForFile({ env: { WEBHOOK_ALLOW_PRIVATE: "on" } });
const { sockets } = file;

let bot: ChildProcess | undefined;
let botOutput = "";
let botUrl = "";
let admin: HttpClient;
let endpointId = "";

beforeAll(async () => {
  const { cluster, database } = file;
  // Least privilege: the bot only publishes; this test registers and inspects the endpoint.
  const botKey = (await createServerKey(database.db, "echo-bot", ["publish"])).key;
  admin = httpClient(`${cluster.url}/server/v1`, (await createServerKey(database.db, "echo-bot-admin", ["moderate", "read"])).key);

  const port = await freePort();
  botUrl = `http://127.0.0.1:${port}/webhooks`;
  const registered = await admin.post<ServerAnswer<"webhookCreated">>("/webhooks", { url: botUrl, events: ["message.created"], description: "echo bot" });
  expect(registered.status, registered.text).toBe(201);
  endpointId = registered.body.endpoint.id;

  bot = spawn(process.execPath, [join(ROOT, "examples/echo-bot/echo-bot.mjs")], {
    cwd: ROOT,
    env: { ...process.env, ECHO_BOT_PORT: String(port), API_URL: cluster.url, SERVER_KEY: botKey, WEBHOOK_SECRET: registered.body.secret },
    stdio: ["ignore", "pipe", "pipe"],
  });
  bot.stdout?.on("data", (c: Buffer) => (botOutput += c));
  bot.stderr?.on("data", (c: Buffer) => (botOutput += c));
  await eventually(async () => {
    if (bot?.exitCode !== null) throw new Error(`the echo bot exited (${bot?.exitCode}): ${botOutput}`);
    return listening(port);
  }, 10_000, "the echo bot to listen");
}, 30_000);

afterAll(async () => {
  const child = bot;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
});

interface Seen {
  text: string;
  sender: string;
}

/** Sends over the socket and waits for the bot's echo of it to arrive on the same socket. */
async function sendAndAwaitEcho(socket: ClientSocket, chatId: string, seen: () => Seen[], text: string): Promise<void> {
  const ack = await ask(socket, "message:send", { chat_id: chatId, text });
  expect(ack.ok).toBe(true);
  await eventually(() => seen().some((m) => m.text === `echo: ${text}`), 20_000, `the echo of "${text}" (bot output: ${botOutput})`);
}

describe("the echo bot example against the cluster", () => {
  it("answers a socket message once, from the system user, ignores its own answers and refuses forged deliveries", async () => {
    const { cluster } = file;
    const http = httpClient(cluster.url);
    const alice = await registerAndLogin(http, "echo_a");
    const bob = await registerAndLogin(http, "echo_b");
    const chatId = await chatWith(alice, [bob]);
    const socket = await sockets.connect(cluster.url, { token: alice.token, chatId });
    const received = collect(socket, "message:new");
    const seen = (): Seen[] => received.map((m) => ({ text: m.text, sender: m.sender.id }));
    const tag = randomBytes(4).toString("hex");
    const hello = `hello ${tag}`;
    await sendAndAwaitEcho(socket, chatId, seen, hello);
    const echo = seen().find((m) => m.text === `echo: ${hello}`)!;
    expect(echo.sender).toBe(SYSTEM_USER_ID);

    // A forged delivery is refused: signed with another secret, or not signed at all.
    const body = JSON.stringify({
      type: "message.created",
      timestamp: new Date().toISOString(),
      data: { message: { id: "1", chat_id: chatId, sender: { id: alice.user.id, username: alice.username }, text: `forged ${tag}`, client_id: null, created_at: new Date().toISOString() }, offline_member_ids: [] },
    });
    const forger = new Webhook(`whsec_${randomBytes(32).toString("base64")}`);
    const now = new Date();
    const forged = await fetch(botUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "webhook-id": "msg_forged", "webhook-timestamp": String(Math.floor(now.getTime() / 1000)), "webhook-signature": forger.sign("msg_forged", now, body) },
      body,
    });
    expect(forged.status).toBe(401);
    const unsigned = await fetch(botUrl, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(unsigned.status).toBe(401);

    // The first delivery sent again (same webhook-id): the bot answers 2xx, but its reply is an
    // idempotent replay of the first one, so nothing new reaches the chat.
    // The bot posts its echo before it answers the delivery, so the echo can arrive before the worker
    // has recorded the delivery as delivered: wait for that record.
    const hellos = async () => {
      const listed = await admin.get<ServerAnswer<"deliveries">>(`/webhooks/${endpointId}/deliveries`);
      expect(listed.status, listed.text).toBe(200);
      return listed.body.deliveries.at(-1)!; // newest first: the last is the hello's
    };
    await eventually(async () => (await hellos()).status === "delivered", 10_000, "the hello's delivery recorded as delivered");
    const first = await hellos();
    expect(first).toMatchObject({ type: "message.created", status: "delivered", attempts: 1 });
    const again = await admin.post(`/webhooks/${endpointId}/deliveries/${first.id}/redeliver`);
    expect(again.status, again.text).toBe(200);
    await eventually(
      async () => {
        const now = await admin.get<ServerAnswer<"deliveries">>(`/webhooks/${endpointId}/deliveries`);
        const d = now.body.deliveries.find((x) => x.id === first.id);
        return d?.status === "delivered" && d.attempts === 2;
      },
      20_000,
      "the redelivery to be answered by the bot",
    );

    // A later marker: deliveries of a chat go out in order, so once its echo is here, every
    // earlier delivery (the bot's own echoes included) has been handled.
    const marker = `marker ${tag}`;
    await sendAndAwaitEcho(socket, chatId, seen, marker);
    expect(seen()).toEqual([
      { text: hello, sender: alice.user.id },
      { text: `echo: ${hello}`, sender: SYSTEM_USER_ID },
      { text: marker, sender: alice.user.id },
      { text: `echo: ${marker}`, sender: SYSTEM_USER_ID },
    ]);
    // No delivery ever failed: the bot answered each one 2xx, its own echoes included.
    const after = await admin.get<ServerAnswer<"deliveries">>(`/webhooks/${endpointId}/deliveries`);
    expect(after.body.deliveries.length).toBeGreaterThanOrEqual(4);
    expect(after.body.deliveries.filter((d) => d.status === "dead" || d.last_error !== null)).toEqual([]);
  });
});

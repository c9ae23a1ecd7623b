import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import pino from "pino";
import { Server } from "socket.io";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutageReplay } from "../../../gateway/redis/outage-replay";
import type { GatewayIo } from "../../../gateway/socket/types";
import type { MessageView } from "../../../shared/contract/views";
import { publishMessage } from "../../../shared/delivery/publish";
import { storeMessage } from "../../../shared/db/messages";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ClientSocket, SocketClients } from "../../support/socket-client";
import { collect, eventually } from "../../support/waits";

/**
 * The replay after a Redis cut, on a Socket.IO server of its own (the adapter plays no part: a
 * cut is what the gateway's links report) and a real database: what its sockets get, and that it
 * goes out through publishMessage like every message.
 */

let tdb: TestDatabase;
let io: GatewayIo;
let url: string;
const sockets = new SocketClients();
let chatId: string;
let userId: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  const user = await sql<{ id: string }>`insert into users (username, email, password_hash) values ('replayer', 'replayer@example.test', 'x') returning id`.execute(tdb.db);
  userId = user.rows[0]!.id;
  const chat = await sql<{ id: string }>`insert into chats (name, created_by) values ('replay', ${userId}) returning id`.execute(tdb.db);
  chatId = chat.rows[0]!.id;
  await sql`insert into chat_members (chat_id, user_id, role) values (${chatId}, ${userId}, 'owner')`.execute(tdb.db);
  const http = createServer();
  io = new Server(http, { path: "/ws" }) as GatewayIo;
  io.on("connection", (socket) => void socket.join(`chat:${chatId}`));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  sockets.closeAll();
  await new Promise((resolve) => io?.close(resolve));
  await tdb?.drop();
});

const store = async (text: string): Promise<MessageView> => (await storeMessage(tdb.db, { chatId, senderId: userId, text })).message;

describe("the outage replay", () => {
  it("sends its sockets what was stored while a link was down, once, leaving out what this gateway published itself", async () => {
    const replay = new OutageReplay(io, tdb.db, pino({ level: "silent" }), { marginMs: 0 });
    const socket: ClientSocket = await sockets.connect(url, {});
    await eventually(async () => (await io.in(`chat:${chatId}`).fetchSockets()).length === 1, 5_000, "the socket in the chat's room");
    const seen = collect(socket, "message:new");

    replay.link("adapter", false);
    // Sent here during the cut: out through the gateway's outlet at once (its sockets have it live).
    const mine = await store("sent on this gateway");
    publishMessage(replay.outlet(), mine);
    // Stored by another gateway or the api during the cut: never reached this gateway.
    const theirs = await store("sent elsewhere");
    await eventually(() => seen.length === 1, 5_000, "the live message");

    replay.link("bus", true); // one link back, the other still down: nothing yet
    replay.link("adapter", true);
    await eventually(() => seen.length === 2, 5_000, "the replayed message");
    // The replay ran once: what comes next arrives third, and nothing was sent twice.
    const after = await store("after the outage");
    publishMessage(replay.outlet(), after);
    await eventually(() => seen.length === 3, 5_000, "the message after");
    expect(seen.map((m) => m.text)).toEqual(["sent on this gateway", "sent elsewhere", "after the outage"]);
    expect(seen.map((m) => m.id)).toEqual([mine.id, theirs.id, after.id]);
  });
});

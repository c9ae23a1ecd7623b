import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { Registry } from "prom-client";
import { Server } from "socket.io";
import { io as connect } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { MessageRelay } from "../../../../gateway/chats/message-relay";
import { OutageReplay } from "../../../../gateway/redis/outage-replay";
import { gatewayMetrics } from "../../../../gateway/gateway.metrics";
import type { GatewayIo } from "../../../../gateway/socket/types";
import type { Db } from "../../../../shared/db/db";
import type { MessageView } from "../../../../shared/contract/views";

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const message = (id: string): MessageView => ({
  id,
  chat_id: "5f0c6d1e-8c51-4e55-9a43-3c1f3c1a2b01",
  sender: { id: "7d1f3f5e-3a4b-4c5d-8e6f-708192a3b4c5", username: "alice" },
  text: `message ${id}`,
  client_id: null,
  created_at: new Date(0).toISOString(),
});

describe("the api's messages relayed to a gateway's sockets", () => {
  it("delivers each once, also when the outage replay delivered it before its publish came", async () => {
    const http = createServer();
    const io = new Server(http) as GatewayIo;
    closers.push(() => new Promise((resolve) => io.close(resolve)));
    io.on("connection", (socket) => void socket.join(`chat:${message("1").chat_id}`));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ["websocket"] });
    closers.push(() => client.close());
    const seen: string[] = [];
    client.on("message:new" as never, (m: MessageView) => void seen.push(m.id));
    await new Promise((resolve) => client.on("connect", resolve as never));
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server-side join

    // The replay reads PostgreSQL only when a link comes back; marking what it delivers needs none.
    const replay = new OutageReplay(io, undefined as unknown as Db, pino({ level: "silent" }));
    const relay = new MessageRelay(io, gatewayMetrics(new Registry(), () => ({})), replay);
    relay.apply({ type: "message", message: message("1") });
    expect(replay.delivered("2")).toBe(true); // delivered by the replay first…
    relay.apply({ type: "message", message: message("2") }); // …then its late publish
    relay.apply({ type: "message", message: message("1") }); // a publish seen twice
    relay.apply({ type: "message", message: message("3") });
    await expect.poll(() => seen, { timeout: 2_000 }).toEqual(["1", "3"]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual(["1", "3"]);
  });
});

import type { Socket as NetSocket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, startSingleNode, type SingleNode } from "../../support/fixtures";
import { chatWith, httpClient as http, registerAndLogin } from "../../support/http";
import { connectRaw } from "../../support/raw-socket";
import { clockPasses, eventually } from "../../support/waits";

/**
 * The gateway's writes (gateway/transport/write-batching.ts): what a connection is sent in one turn
 * of the event loop leaves in one write. Counted on the gateway's side of the connection (the
 * client's reads coalesce whatever arrived meanwhile, so they cannot tell).
 */
let node: SingleNode;

beforeAll(async () => {
  node = await startSingleNode();
});
afterAll(async () => {
  await node?.close();
});

/** Counts the writes the stream layer hands to the system for one TCP socket (`_write` and `_writev` calls). */
function countWrites(tcp: NetSocket): { readonly n: number } {
  const counter = { n: 0 };
  const inner = tcp as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const [write, writev] = [inner._write.bind(tcp), inner._writev.bind(tcp)];
  inner._write = (...a) => {
    counter.n += 1;
    write(...a);
  };
  inner._writev = (...a) => {
    counter.n += 1;
    writev(...a);
  };
  return counter;
}

describe("write batching", () => {
  // The standalone server attaches Socket.IO to a listening server; a gateway process attaches it
  // before listening, and Engine.IO then makes its WebSocket server anew: both must batch.
  it.each([
    ["npm start's standalone server", () => Promise.resolve({ url: node.url, gateway: node.gateway, close: async () => undefined })],
    ["a gateway process (startGatewayServer)", () => startGateway({ database: node.database, bus: node.bus })],
  ] as const)("answers a WebSocket handshake in two writes, the 101 with the open packet, then the connect: %s", async (_name, start) => {
    const server = await start();
    const alice = await registerAndLogin(http(node.url), "upgrader");
    const httpServer = server.gateway.io.httpServer;
    let writes: { readonly n: number } | undefined;
    // Ahead of Engine.IO's own listener: counts every write to this upgrade's TCP socket.
    const onUpgrade = (_req: unknown, tcp: NetSocket) => {
      writes ??= countWrites(tcp);
    };
    httpServer.prependListener("upgrade", onUpgrade);
    let raw: Awaited<ReturnType<typeof connectRaw>> | undefined;
    try {
      raw = await connectRaw(server.url, alice.token);
      await clockPasses(50, "the connect packet is the last the server sends unasked: any write still due goes meanwhile");
      expect(writes?.n).toBe(2);
    } finally {
      httpServer.off("upgrade", onUpgrade);
      raw?.destroy();
      await server.close();
    }
  });

  it("still sends a refused upgrade's answer", async () => {
    // Engine.IO 3 is refused after the upgrade, inside the corked turn: the refusal must still arrive.
    const u = new URL(node.url);
    const { connect } = await import("node:net");
    const answer = await new Promise<string>((resolve, reject) => {
      const tcp = connect({ host: u.hostname, port: Number(u.port) });
      let text = "";
      tcp.on("data", (d) => (text += d.toString("latin1")));
      tcp.on("close", () => resolve(text));
      tcp.on("error", reject);
      tcp.write(
        "GET /ws/?EIO=3&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
      setTimeout(() => tcp.destroy(), 3_000);
    });
    expect(answer).toContain("400 Bad Request");
    expect(answer).toContain("Unsupported protocol version");
  });

  it("sends a send's ack and its message:new in one write, and a burst of them in one write per turn", async () => {
    const alice = await registerAndLogin(http(node.url), "batcher");
    const chatId = await chatWith(alice, [], "batched writes");
    const texts: string[] = [];
    const raw = await connectRaw(node.url, alice.token, { onText: (t) => texts.push(t) });
    try {
      const [server] = [...node.gateway.io.of("/").sockets.values()].filter((s) => s.data.userId === alice.user.id);
      const tcp = (server!.conn.transport as unknown as { socket: { _socket: NetSocket } }).socket._socket;
      raw.emit("chat:join", { chat_id: chatId });
      await eventually(() => texts.some((t) => t.startsWith("43")), 5_000, "the join's ack");
      texts.length = 0;

      const writes = countWrites(tcp);
      raw.emit("message:send", { chat_id: chatId, text: "one", client_id: "one" });
      await eventually(() => texts.length >= 2, 5_000, "an ack and a message:new");
      expect(texts.filter((t) => t.startsWith('42["message:new"'))).toHaveLength(1);
      expect(texts.filter((t) => t.startsWith("43"))).toHaveLength(1);
      expect(writes.n).toBe(1);

      // 20 sends in one TCP write (within the event budget of 30): answered 4 at a time (the
      // socket's events in flight), each turn's answers and broadcasts in one write.
      texts.length = 0;
      const burst = countWrites(tcp);
      for (let i = 0; i < 20; i += 1) raw.emit("message:send", { chat_id: chatId, text: `burst ${i}`, client_id: `burst-${i}` });
      await eventually(() => texts.length >= 40, 10_000, "20 acks and 20 message:new");
      expect(texts.filter((t) => t.startsWith('42["message:new"'))).toHaveLength(20);
      expect(texts.filter((t) => t.startsWith("43") && t.includes('"ok":true'))).toHaveLength(20);
      expect(burst.n).toBeLessThanOrEqual(10);
    } finally {
      raw.destroy();
    }
  });
});

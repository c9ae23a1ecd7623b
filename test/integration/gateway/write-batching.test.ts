import type { Socket as NetSocket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSingleNode, type SingleNode } from "../../support/fixtures";
import { chatWith, httpClient as http, registerAndLogin } from "../../support/http";
import { connectRaw } from "../../support/raw-socket";
import { eventually } from "../../support/waits";

/**
 * The gateway's writes (gateway/socket/write-batching.ts): what a connection is sent in one turn
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

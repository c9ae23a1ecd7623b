import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SingleNode, startSingleNode } from "../../support/fixtures";
import { httpClient, registerAndLogin } from "../../support/http";
import { connectRaw } from "../../support/raw-socket";
import { eventually } from "../../support/waits";

/**
 * SOCKET_PING_INTERVAL and SOCKET_PING_TIMEOUT set Engine.IO's heartbeat: clients learn them from
 * the open packet (stock clients follow it), a client that answers pings stays, and one that stops
 * reading is closed once a ping has gone unanswered for the time-out.
 */
let node: SingleNode;
beforeAll(async () => {
  node = await startSingleNode({ env: { SOCKET_PING_INTERVAL: "5s", SOCKET_PING_TIMEOUT: "1s" } });
});
afterAll(async () => {
  await node?.close();
});

describe("the heartbeat's settings", () => {
  it("go to clients in the open packet; a silent client is closed after interval + time-out, a live one stays", async () => {
    const user = await registerAndLogin(httpClient(node.url), "beat");
    const [live, silent] = await Promise.all([connectRaw(node.url, user.token), connectRaw(node.url, user.token)]);
    try {
      expect(live.open).toMatchObject({ pingInterval: 5_000, pingTimeout: 1_000 });
      const started = Date.now();
      silent.pause();
      // The server's first ping (5 s after the connect) goes unanswered, and 1 s later it closes that socket.
      await eventually(() => node.gateway.io.of("/").sockets.size === 1, 15_000, "the silent socket closed by the server");
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
      // (Its TCP connection ends later: ws waits for the closing handshake the silent client never answers.)
      // The live one answered the same pings and is still there.
      expect(live.isClosed).toBe(false);
      expect(node.gateway.io.of("/").sockets.size).toBe(1);
    } finally {
      live.destroy();
      silent.destroy();
    }
  });
});

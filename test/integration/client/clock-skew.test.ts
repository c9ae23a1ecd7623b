import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../../client/index";
import { type SingleNode, startSingleNode } from "../../support/fixtures";
import { newCredentials } from "../../support/http";
import { clockPasses, eventually } from "../../support/waits";

let node: SingleNode;

beforeAll(async () => {
  node = await startSingleNode({ env: { ACCESS_TOKEN_TTL: "60s" } });
});
afterAll(async () => {
  await node?.close();
});

describe("a client whose clock runs an hour ahead of the server's", () => {
  it("does not refresh in a loop: every expires_at it is sent looks an hour old, expires_in still holds", async () => {
    let refreshes = 0;
    // The server's answers as that client reads them: its clock says an hour later, so every
    // absolute time is an hour in its past. Everything else is the real server's.
    const skewed: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith("/login") && !String(input).endsWith("/token/refresh")) return res;
      if (String(input).endsWith("/token/refresh")) refreshes += 1;
      const body = (await res.json()) as { expires_at?: string };
      if (body.expires_at) body.expires_at = new Date(Date.parse(body.expires_at) - 3_600_000).toISOString();
      return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    };
    const client = createClient({ url: node.url, fetch: skewed });
    const creds = newCredentials("skew");
    await client.register(creds);
    await client.login({ username: creds.username, password: creds.password });
    const socket = client.connect();
    try {
      await eventually(() => socket.connected, 5_000, "the socket to connect");
      // A client that took its tokens for expired would refresh at once and then at every tick of its
      // refresh timer (never sooner than a second): a window in which none must happen, on the real
      // clock the client's timers and sockets run on.
      await clockPasses(3_000, "a window of three refresh-timer ticks with no refresh");
      expect((await client.me()).username).toBe(creds.username);
      // A 60 s token is due for refresh 20 s before it expires: none in these 3 s.
      expect(refreshes).toBe(0);
      expect(socket.connected).toBe(true);
    } finally {
      socket.close();
    }
  });
});

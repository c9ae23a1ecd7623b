import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageView } from "../../../shared/contract/views";
import { holdTableLock } from "../../support/database";
import { type InProcessCluster, startInProcessCluster } from "../../support/fixtures";
import { chatWith, httpClient, registerAndLogin } from "../../support/http";
import type { RedisServer } from "../../support/redis-server";
import { ask } from "../../support/socket-client";
import { collect, eventually, nextEvent } from "../../support/waits";

/**
 * A `chat:join` answered with an error leaves the socket out of the room. The join puts the socket
 * in the room before it reads the chat's position (so nothing stored meanwhile falls in a gap); when
 * that read fails (PostgreSQL busy or down), the client is told the join failed, and must then get
 * none of the room's messages and may not send to it. The scale bench found sockets left in the
 * room by such answers (docs/scale.md).
 */

let cluster: InProcessCluster & { redis: RedisServer };
beforeAll(async () => {
  cluster = await startInProcessCluster(1);
});
afterAll(async () => {
  await cluster?.close();
});

/** Cancels the statements of this database that wait on a lock (as a failover or an operator would end them); how many. */
async function cancelLockWaiters(): Promise<number> {
  const { rows } = await cluster.database.pool.query<{ n: number }>(
    "select count(*)::int as n from (select pg_cancel_backend(pid) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%chat_changes%') c",
  );
  return rows[0]!.n;
}

describe("chat:join that fails after joining the room", () => {
  it("answers the error and leaves the socket out of the room: no live messages, no sending", async () => {
    const api = httpClient(cluster.api.url);
    const [alice, bob] = await Promise.all([registerAndLogin(api, "jfa"), registerAndLogin(api, "jfb")]);
    const chatId = await chatWith(alice, [bob]);
    const gateway = cluster.gateways[0]!;
    const bobSocket = await cluster.sockets.connect(gateway.url, { token: bob.token, chatId });
    const aliceSocket = await cluster.sockets.connect(gateway.url, { token: alice.token });
    const inRoom = () => [...gateway.gateway.io.of("/").sockets.values()].some((s) => s.data.userId === alice.user.id && s.rooms.has(`chat:${chatId}`));

    const lock = await holdTableLock(cluster.database.url, "chat_changes", "access exclusive");
    let answer: Awaited<ReturnType<typeof ask<"chat:join">>>;
    try {
      const joining = ask(aliceSocket, "chat:join", { chat_id: chatId }, 15_000);
      // The membership was checked and the room joined; the read of the chat's position waits on the lock.
      await eventually(inRoom, 5_000, "alice's socket in the room, its join waiting on the lock");
      await eventually(async () => (await cancelLockWaiters()) > 0, 5_000, "the join's read cancelled");
      answer = await joining;
    } finally {
      await lock.release();
    }
    expect(answer.ok ? "ok" : answer.error.code).toBe("unavailable");
    expect(inRoom()).toBe(false);

    // Bob's message does not reach alice's socket, and hers to the room is refused.
    const seen = collect(aliceSocket, "message:new");
    const sent = await ask(bobSocket, "message:send", { chat_id: chatId, text: "after the failed join" });
    expect(sent.ok).toBe(true);
    const refused = await ask(aliceSocket, "message:send", { chat_id: chatId, text: "not joined" });
    expect(refused.ok ? "ok" : refused.error.code).toBe("not_in_chat");

    // Joined again, she gets the next one live: the first never came, though the socket was listening.
    const rejoined = await ask(aliceSocket, "chat:join", { chat_id: chatId });
    expect(rejoined.ok).toBe(true);
    const next = nextEvent(aliceSocket, "message:new");
    const second = await ask(bobSocket, "message:send", { chat_id: chatId, text: "after the second join" });
    expect(second.ok).toBe(true);
    expect(((await next) as MessageView).text).toBe("after the second join");
    expect(seen.map((m) => (m as MessageView).text)).toEqual(["after the second join"]);
  });
});

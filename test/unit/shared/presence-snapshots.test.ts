import { randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { MemoryPresence } from "../../../shared/presence/memory-presence";
import { LIMITS } from "../../../shared/contract/views";

const PRESENCE_LIST_MAX = LIMITS.presenceList;
import { PresenceSnapshots } from "../../../shared/presence/snapshots";

/** npm start's store, with the reads it serves counted. */
function countedStore() {
  const store = new MemoryPresence();
  const reads = { n: 0 };
  const list = (chatId: string, max: number) => {
    reads.n += 1;
    return store.list(chatId, max);
  };
  const online = async (chatId: string, n: number) => {
    for (let i = 0; i < n; i++) await store.join("gw", chatId, { id: randomUUID(), username: `u${i}` });
  };
  return { store, reads, list: { list }, online };
}

describe("presence snapshots", () => {
  it("reads a chat with at most a list's worth online afresh each time, so a join shows at once", async () => {
    const s = countedStore();
    const lists = new PresenceSnapshots(s.list);
    const chat = randomUUID();
    await s.online(chat, 2);
    expect((await lists.list(chat)).count).toBe(2);
    await s.online(chat, 1);
    expect((await lists.list(chat)).count).toBe(3);
    expect(s.reads.n).toBe(2);
  });

  it("answers a chat with more online than a list holds from one read for up to the snapshot's age, then reads again", async () => {
    const s = countedStore();
    // A snapshot's age is read from Date.now(): the test moves that clock instead of waiting.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const lists = new PresenceSnapshots(s.list, 200);
      const chat = randomUUID();
      await s.online(chat, PRESENCE_LIST_MAX + 1);
      const first = await lists.list(chat);
      expect(first.count).toBe(PRESENCE_LIST_MAX + 1);
      expect(first.users).toHaveLength(PRESENCE_LIST_MAX);
      await s.online(chat, 1);
      expect((await lists.list(chat)).count).toBe(PRESENCE_LIST_MAX + 1);
      vi.advanceTimersByTime(199);
      expect((await lists.list(chat)).count).toBe(PRESENCE_LIST_MAX + 1);
      expect(s.reads.n).toBe(1);
      vi.advanceTimersByTime(51);
      expect((await lists.list(chat)).count).toBe(PRESENCE_LIST_MAX + 2);
      expect(s.reads.n).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("shares one read among asks for the same chat that arrive together", async () => {
    const s = countedStore();
    const lists = new PresenceSnapshots(s.list);
    const chat = randomUUID();
    await s.online(chat, 3);
    const answers = await Promise.all([lists.list(chat), lists.list(chat), lists.list(chat)]);
    expect(answers.map((a) => a.count)).toEqual([3, 3, 3]);
    expect(s.reads.n).toBe(1);
  });
});

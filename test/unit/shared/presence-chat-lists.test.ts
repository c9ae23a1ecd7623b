import { describe, expect, it } from "vitest";
import { ChatLists, type ChatListStore } from "../../../shared/presence/chat-lists";
import { eventually } from "../../support/waits";

/** A list kept in a set, whose next add or remove can be made to fail. */
function listStore() {
  const listed = new Set<string>();
  const calls: string[] = [];
  const failNext = { add: false, remove: false };
  const store: ChatListStore = {
    async add(gateway, chatId) {
      calls.push(`add ${chatId}`);
      if (failNext.add) {
        failNext.add = false;
        throw new Error("down");
      }
      listed.add(`${gateway} ${chatId}`);
    },
    async remove(gateway, chatId) {
      calls.push(`remove ${chatId}`);
      if (failNext.remove) {
        failNext.remove = false;
        throw new Error("down");
      }
      listed.delete(`${gateway} ${chatId}`);
    },
  };
  return { store, listed, calls, failNext };
}

const script = async () => "ran";

describe("a gateway's chat list kept in this process", () => {
  it("lists a chat once for its joins, and takes it off when a leave emptied it", async () => {
    const s = listStore();
    const lists = new ChatLists(s.store);
    await Promise.all([lists.joining("gw", "c1", script), lists.joining("gw", "c1", script), lists.joining("gw", "c2", script)]);
    expect(s.calls).toEqual(["add c1", "add c2"]);
    expect(lists.size).toBe(2);
    await lists.emptied("gw", "c1", lists.mark());
    expect([...s.listed]).toEqual(["gw c2"]);
    expect(lists.size).toBe(1);
  });

  it("keeps a chat listed when a join was sent after the leave that found it empty, or is still under way", async () => {
    const s = listStore();
    const lists = new ChatLists(s.store);
    await lists.joining("gw", "c1", script);
    const mark = lists.mark();
    await lists.joining("gw", "c1", script); // sent after the leave's script
    await lists.emptied("gw", "c1", mark);
    let answer: (() => void) | undefined;
    const underWay = lists.joining("gw", "c1", () => new Promise<void>((resolve) => (answer = resolve)));
    await eventually(() => answer !== undefined, 1_000, "the join's script to be sent");
    await lists.emptied("gw", "c1", lists.mark()); // its script was sent before the leave's, not yet answered
    answer!();
    await underWay;
    expect(s.calls).toEqual(["add c1"]);
    expect([...s.listed]).toEqual(["gw c1"]);
  });

  it("lists a chat at the next join when its listing failed, and the join that waited for it fails without running", async () => {
    const s = listStore();
    const lists = new ChatLists(s.store);
    s.failNext.add = true;
    let ran = 0;
    await expect(lists.joining("gw", "c1", async () => (ran += 1))).rejects.toThrow("down");
    expect(ran).toBe(0);
    expect(lists.size).toBe(0);
    await lists.joining("gw", "c1", async () => (ran += 1));
    expect(ran).toBe(1);
    expect([...s.listed]).toEqual(["gw c1"]);
  });

  it("answers a leave whose removal failed (the chat's next join and leave remove it)", async () => {
    const s = listStore();
    const lists = new ChatLists(s.store);
    await lists.joining("gw", "c1", script);
    s.failNext.remove = true;
    await lists.emptied("gw", "c1", lists.mark());
    expect(lists.size).toBe(0);
    expect([...s.listed]).toEqual(["gw c1"]);
    await lists.joining("gw", "c1", script);
    await lists.emptied("gw", "c1", lists.mark());
    expect([...s.listed]).toEqual([]);
  });

  it("after its gateway was swept, lists each chat again at its next join and keeps nothing else", async () => {
    const s = listStore();
    const lists = new ChatLists(s.store);
    await Promise.all(["c1", "c2", "c3"].map((chat) => lists.joining("gw", chat, script)));
    await lists.joining("other", "c1", script);
    lists.forget("gw");
    expect(lists.size).toBe(1);
    await lists.joining("gw", "c2", script);
    expect(s.calls.filter((c) => c === "add c2")).toHaveLength(2);
    expect(lists.size).toBe(2);
  });
});

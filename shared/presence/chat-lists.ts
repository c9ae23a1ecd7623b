/** What a chat list is kept in: listing a chat on a gateway's list, and taking it off. */
export interface ChatListStore {
  add(gateway: string, chatId: string): Promise<unknown>;
  remove(gateway: string, chatId: string): Promise<unknown>;
}

interface Entry {
  /** The chat's listing (its add), issued with no removal since; unset when it failed or was undone. */
  listed?: Promise<unknown>;
  /** Joins under way, from before their listing to their script's answer. */
  joins: number;
  /** The number (in `ChatLists.sent`) of the last join script sent for the chat. */
  sent: number;
}

/**
 * The chats each gateway of this process has users in, kept on the gateway's list in the store
 * (what its sweep reads) and here, so that both hold the chats in use and not every chat ever
 * joined. A chat is listed before a join's script runs (the join waits for it) and taken off when a
 * leave found the gateway's set in the chat empty. A chat's keys and a gateway's list sit on
 * different slots of a Redis Cluster, so no one script can check the one and change the other:
 * this process, the only one that joins and leaves for its gateway, orders them instead.
 * Scripts of one chat run in the order sent (one connection per slot), so:
 * - A leave takes the chat off only if no join into it is under way here (one waiting for its
 *   listing would send its script after the removal) and none was sent after the leave's script
 *   (it ran after it, and may have added a user to the set the leave saw empty). Every other join
 *   ran before the leave, so that set is still empty.
 * - The removal is sent at once, before any later join's listing (one connection per slot again):
 *   a join right after it lists the chat again, and the listing lands after the removal.
 * A failed removal leaves the chat on the store's list, harmless (its sweep drops an empty set)
 * until the chat's next join and leave here, which remove it again.
 */
export class ChatLists {
  private readonly gateways = new Map<string, Map<string, Entry>>();
  /** Join scripts sent so far, over all chats. */
  private sent = 0;

  constructor(private readonly store: ChatListStore) {}

  /** Runs `join` (the script that adds a user of `gateway` in the chat) once the chat is listed. */
  async joining<T>(gateway: string, chatId: string, join: () => Promise<T>): Promise<T> {
    let chats = this.gateways.get(gateway);
    if (!chats) this.gateways.set(gateway, (chats = new Map()));
    let entry = chats.get(chatId);
    if (!entry) chats.set(chatId, (entry = { joins: 0, sent: 0 }));
    const e = entry;
    e.joins += 1;
    try {
      if (!e.listed) {
        const listed: Promise<unknown> = this.store.add(gateway, chatId).catch((err: unknown) => {
          if (e.listed === listed) e.listed = undefined;
          throw err;
        });
        e.listed = listed;
      }
      await e.listed;
      e.sent = ++this.sent;
      return await join();
    } finally {
      e.joins -= 1;
      // Not listed (its listing failed, or the gateway was swept): nothing here to keep.
      if (e.joins === 0 && !e.listed) this.drop(gateway, chatId, e);
    }
  }

  /** Taken just before a leave's script is sent, for `emptied`. */
  mark(): number {
    return this.sent;
  }

  /**
   * A leave's script, sent at `mark`, found `gateway`'s set in the chat empty. The removal is sent
   * before this returns; the promise settles when it answered (never rejects: see above).
   */
  async emptied(gateway: string, chatId: string, mark: number): Promise<void> {
    const entry = this.gateways.get(gateway)?.get(chatId);
    if (entry && (entry.joins > 0 || entry.sent > mark)) return;
    if (entry) this.drop(gateway, chatId, entry);
    // Also with no entry here (an earlier leave took it off, or a sweep): the list may hold it still.
    await this.store.remove(gateway, chatId).catch(() => undefined);
  }

  /** `gateway` was swept: its list is gone from the store, and each chat's next join lists it again. */
  forget(gateway: string): void {
    const chats = this.gateways.get(gateway);
    for (const [chatId, entry] of chats ?? []) {
      entry.listed = undefined;
      if (entry.joins === 0) this.drop(gateway, chatId, entry);
    }
  }

  /** Chats listed or being listed here, over all gateways. */
  get size(): number {
    let n = 0;
    for (const chats of this.gateways.values()) n += chats.size;
    return n;
  }

  private drop(gateway: string, chatId: string, entry: Entry): void {
    const chats = this.gateways.get(gateway);
    if (chats?.get(chatId) !== entry) return;
    chats.delete(chatId);
    if (chats.size === 0) this.gateways.delete(gateway);
  }
}

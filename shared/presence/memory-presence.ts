import { type DueLeave, GRACE_MS, type PresenceList, type PresenceStore, type PresenceUser, type Transition } from "./presence";

interface ChatState {
  /** userId → gateways that have it (0: in its grace). */
  gateways: Map<string, Set<string>>;
  names: Map<string, string>;
}

/**
 * Presence in one process (`npm start`, where api and gateway share it): the same rules as the
 * Redis store, without leases (a process that dies takes its presence with it).
 */
export class MemoryPresence implements PresenceStore {
  private readonly chats = new Map<string, ChatState>();
  /** "chatId userId" → when its grace ends. */
  private readonly pending = new Map<string, number>();

  async join(gateway: string, chatId: string, user: PresenceUser): Promise<Transition> {
    let chat = this.chats.get(chatId);
    if (!chat) this.chats.set(chatId, (chat = { gateways: new Map(), names: new Map() }));
    const had = chat.gateways.get(user.id);
    const joined = had === undefined;
    const set = had ?? new Set<string>();
    set.add(gateway);
    chat.gateways.set(user.id, set);
    chat.names.set(user.id, user.username);
    return { joined, count: chat.gateways.size };
  }

  async leave(gateway: string, chatId: string, userId: string): Promise<void> {
    const set = this.chats.get(chatId)?.gateways.get(userId);
    if (!set?.delete(gateway) || set.size > 0) return;
    this.pending.set(`${chatId} ${userId}`, Date.now() + GRACE_MS);
  }

  async dueLeaves(max: number): Promise<DueLeave[]> {
    const now = Date.now();
    const due: DueLeave[] = [];
    for (const [key, at] of this.pending) {
      if (due.length >= max) break;
      if (at > now) continue;
      this.pending.delete(key);
      const [chatId, userId] = key.split(" ") as [string, string];
      const chat = this.chats.get(chatId);
      if (!chat || chat.gateways.get(userId)?.size !== 0) continue; // back meanwhile
      chat.gateways.delete(userId);
      chat.names.delete(userId);
      if (chat.gateways.size === 0) this.chats.delete(chatId);
      due.push({ chatId, userId, count: chat.gateways.size });
    }
    return due;
  }

  async list(chatId: string, max: number): Promise<PresenceList> {
    const chat = this.chats.get(chatId);
    if (!chat) return { count: 0, users: [] };
    const users: PresenceUser[] = [];
    for (const [id, username] of chat.names) {
      if (users.length >= max) break;
      users.push({ id, username });
    }
    return { count: chat.gateways.size, users };
  }

  async renew(): Promise<void> {}

  async sweep(): Promise<{ gateways: string[]; users: number }> {
    return { gateways: [], users: 0 };
  }
}

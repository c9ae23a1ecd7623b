import type { CountTelling, DueClaim, Leave, PresenceList, PresenceStore, PresenceUser, Sweep, Transition } from "./presence";

interface ChatState {
  /** userId → gateways that have it (0: in its grace). */
  gateways: Map<string, Set<string>>;
  names: Map<string, string>;
}

/**
 * Presence in one process (`npm start`, where api and gateway share it): the same rules as the
 * Redis store, without leases and sweeps (a process that dies takes its presence with it).
 */
export class MemoryPresence implements PresenceStore {
  private readonly chats = new Map<string, ChatState>();
  /** Per chat: the count announced last, and when its window ends. */
  private readonly told = new Map<string, { count: number; until: number }>();

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

  async leave(gateway: string, chatId: string, userId: string): Promise<Leave> {
    const chat = this.chats.get(chatId);
    const set = chat?.gateways.get(userId);
    if (!chat || !set?.delete(gateway) || set.size > 0) return { left: false, count: chat?.gateways.size ?? 0 };
    chat.gateways.delete(userId);
    chat.names.delete(userId);
    if (chat.gateways.size === 0) {
      this.chats.delete(chatId);
      this.told.delete(chatId);
    }
    return { left: true, count: chat.gateways.size };
  }

  /** One process has no gateway to sweep: nothing is ever due. */
  async dueLeaves(): Promise<DueClaim> {
    return { claimed: 0, leaves: [] };
  }

  async tellCount(chatId: string, windowMs: number): Promise<CountTelling> {
    const count = this.chats.get(chatId)?.gateways.size ?? 0;
    const last = this.told.get(chatId);
    const now = Date.now();
    if (last?.count === count) return { tell: false, count, retryInMs: 0 };
    if (last && last.until > now) return { tell: false, count, retryInMs: last.until - now };
    if (count === 0) this.told.delete(chatId);
    else this.told.set(chatId, { count, until: now + windowMs });
    return { tell: true, count, retryInMs: 0 };
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

  async online(chatId: string, userIds: readonly string[]): Promise<Set<string>> {
    const chat = this.chats.get(chatId);
    return new Set(userIds.filter((id) => chat?.gateways.has(id)));
  }

  async renew(): Promise<boolean> {
    return true;
  }

  async sweep(): Promise<Sweep> {
    return { gateways: [], users: 0 };
  }

  localChats(): number {
    return this.chats.size;
  }
}

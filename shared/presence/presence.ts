/**
 * Presence: who is online in a chat, anywhere in the cluster. A user is online in a chat while one
 * of its sockets is in the chat's room on any gateway; several tabs and several gateways count once.
 *
 * Each gateway counts its own sockets and tells the store only its user-level transitions in a
 * chat: its first socket of a user (`join`) and, once the grace (`GRACE_MS`) has passed with no
 * socket of that user back on it, its last (`leave`). The store counts gateways per (chat, user):
 * a join while another gateway (or one still in its grace) has the user announces nothing, and a
 * leave announces only when no gateway has it. A reconnect to the same gateway within the grace
 * costs the store nothing at all. A gateway that dies stops renewing its lease; another gateway
 * sweeps its entries as if its sockets had left when it was last heard of: their leaves are due
 * `GRACE_MS` after that, within 15 s of the death.
 */
export const GRACE_MS = 10_000;
/** A gateway not heard from for this long is dead (it renews every `LEASE_MS / 4`). */
export const LEASE_MS = 4_000;

export interface PresenceUser {
  id: string;
  username: string;
}

export interface Transition {
  /** True when the user came online in the chat (no gateway had it, and it was not in its grace). */
  joined: boolean;
  /** Users online in the chat after the change (those in their grace included). */
  count: number;
}

export interface Leave {
  /** True when no gateway has the user in the chat any more (announce its leave). */
  left: boolean;
  /** Users online in the chat after the change. */
  count: number;
}

export interface DueLeave {
  chatId: string;
  userId: string;
  /** Users online in the chat after this leave. */
  count: number;
}

/** `dueLeaves`' answer: how many were claimed, and the leaves of those still gone (the rest came back meanwhile). */
export interface DueClaim {
  claimed: number;
  leaves: DueLeave[];
}

/** What a sweep did: the gateways it swept, their users now pending, and (when it swept any) where its time went. */
export interface Sweep {
  gateways: string[];
  users: number;
  /** Pages of the dead gateways' chat lists read, and when (ms from the sweep's start) the first was asked for and the last answered. */
  pages?: { read: number; firstAskedMs: number; lastReadMs: number };
}

/** `tellCount`'s answer. */
export interface CountTelling {
  /** True when this caller is the one to announce `count` now (it was recorded as the last announced). */
  tell: boolean;
  /** Users online in the chat now. */
  count: number;
  /** Not told because another caller announced within the window: ask again in this many ms (0: nothing to tell). */
  retryInMs: number;
}

export interface PresenceList {
  count: number;
  users: PresenceUser[];
}

/** The shared state: Redis (one server or a cluster) for the cluster, memory for `npm start`. */
export interface PresenceStore {
  /** `gateway`'s first socket of `user` in `chat`. */
  join(gateway: string, chatId: string, user: PresenceUser): Promise<Transition>;
  /** `gateway`'s last socket of `userId` in `chat` went, a grace ago, and none came back. */
  leave(gateway: string, chatId: string, userId: string): Promise<Leave>;
  /**
   * Swept users whose grace ran out, up to `max` claimed by this caller (each goes to one caller):
   * `claimed` counts them all, `leaves` those still gone (the rest came back meanwhile). More may be
   * due while `claimed` is `max`.
   */
  dueLeaves(max: number): Promise<DueClaim>;
  /**
   * A large chat's count changed here: whether this caller announces it. At most one announcement
   * per `windowMs` per chat in the whole cluster, and none when the count now is the one announced
   * last (by anyone). Every gateway that saw a change asks; the first asks after the window are
   * told whether the latest count still needs announcing.
   */
  tellCount(chatId: string, windowMs: number): Promise<CountTelling>;
  /** The chat's count and up to `max` of its users. */
  list(chatId: string, max: number): Promise<PresenceList>;
  /** Which of `userIds` are online in the chat (in its grace included): the webhooks' push list is the rest. */
  online(chatId: string, userIds: readonly string[]): Promise<Set<string>>;
  /**
   * `gateway` is alive (renewed every `LEASE_MS / 4`). False when an earlier renewal had written
   * its lease and the store no longer held it: the gateway was taken for dead (stalled past
   * `LEASE_MS`) and swept, its entries gone. It then tells its users again (`join`) before their
   * leaves fall due.
   */
  renew(gateway: string): Promise<boolean>;
  /** Gateways whose lease ran out: their entries swept into pending leaves (one sweeper per dead gateway). */
  sweep(): Promise<Sweep>;
  /**
   * Keeps `gateway` from being swept while its process lives but its event loop is stalled (a
   * store shared by processes only). Returns the stop, for a clean close.
   */
  stayAlive?(gateway: string): () => void;
  /**
   * The chats this process keeps presence state for (Redis: those its gateways have users in;
   * memory: those anyone is online in): bounded by the chats in use, not by those ever used.
   */
  localChats(): number;
}

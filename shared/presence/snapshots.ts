import { LIMITS } from "../contract/views";
import type { PresenceList, PresenceStore } from "./presence";

/** How long a large chat's list is served from one read. */
export const SNAPSHOT_MS = 1_000;
/** Snapshots kept per process (the oldest go first). */
const MAX_SNAPSHOTS = 10_000;

/**
 * `GET /chats/:id/presence` and `chat:presence` for one process: asks for one chat that arrive
 * together share one store read, and a chat with more users online than a list holds (over
 * 1000) is answered from a snapshot at most a second old. Such a chat's list is a sample anyway
 * and its events are counts only; re-reading 1000 of its entries for every member that opens it
 * is what a crowd opening a big chat would cost. Smaller chats are read afresh each time, so a
 * join shows at once.
 */
export class PresenceSnapshots {
  private readonly reads = new Map<string, { at: number; list: Promise<PresenceList> }>();

  constructor(
    private readonly store: Pick<PresenceStore, "list">,
    private readonly ttlMs = SNAPSHOT_MS,
  ) {}

  list(chatId: string): Promise<PresenceList> {
    const now = Date.now();
    const kept = this.reads.get(chatId);
    if (kept && now - kept.at < this.ttlMs) return kept.list;
    const list = this.store.list(chatId, LIMITS.presenceList);
    const entry = { at: now, list };
    this.reads.delete(chatId);
    this.reads.set(chatId, entry);
    if (this.reads.size > MAX_SNAPSHOTS) this.reads.delete(this.reads.keys().next().value!);
    const forget = () => {
      if (this.reads.get(chatId) === entry) this.reads.delete(chatId);
    };
    // Kept past its read only for a large chat; a failed read is not kept at all.
    list.then((l) => (l.count > LIMITS.presenceList ? undefined : forget()), forget);
    return list;
  }
}

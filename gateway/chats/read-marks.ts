import type { Db } from "../../shared/db/db";
import { markRead, type ReadResult } from "../../shared/db/changes";

interface Pending {
  chatId: string;
  userId: string;
  messageId: bigint;
  waiters: { resolve: (r: ReadResult) => void; reject: (err: unknown) => void }[];
}

/** Read marks per statement at most (a flush with more runs several). */
const CHUNK = 1_000;

/**
 * The gateway's `chat:read`s, coalesced: the marks of every socket that arrive while waiting go
 * into one statement (`markRead`), one entry per (chat, user) holding the furthest position asked
 * for. A flush runs at once after a quiet spell and then at most once per `intervalMs`, so a user
 * scrolling through 100 messages costs one or two statements, and the room hears at most one
 * `message:read` per member and chat per interval from each gateway (`onMoved`). Each mark's answer
 * waits for its flush: the position is stored before the client hears it was.
 */
export class ReadMarks {
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;
  private lastFlush = 0;

  constructor(
    private readonly db: Db,
    private readonly onMoved: (read: ReadResult) => void,
    private readonly intervalMs = 1_000,
  ) {}

  mark(chatId: string, userId: string, messageId: string): Promise<ReadResult> {
    const key = `${chatId} ${userId}`;
    const id = BigInt(messageId);
    return new Promise((resolve, reject) => {
      const entry = this.pending.get(key);
      if (entry) {
        if (id > entry.messageId) entry.messageId = id;
        entry.waiters.push({ resolve, reject });
      } else {
        this.pending.set(key, { chatId, userId, messageId: id, waiters: [{ resolve, reject }] });
      }
      this.schedule();
    });
  }

  get size(): number {
    return this.pending.size;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.flushing || this.pending.size === 0) return;
    const wait = Math.max(0, this.lastFlush + this.intervalMs - Date.now());
    this.timer = setTimeout(() => void this.flush(), wait);
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    this.flushing = true;
    this.lastFlush = Date.now();
    const batch = [...this.pending.values()];
    this.pending = new Map();
    for (let i = 0; i < batch.length; i += CHUNK) {
      const chunk = batch.slice(i, i + CHUNK);
      try {
        const results = await markRead(
          this.db,
          chunk.map((p) => ({ chatId: p.chatId, userId: p.userId, messageId: String(p.messageId) })),
        );
        for (const [k, result] of results.entries()) {
          if (result.moved) this.onMoved(result);
          for (const w of chunk[k]!.waiters) w.resolve(result);
        }
      } catch (err) {
        for (const p of chunk) for (const w of p.waiters) w.reject(err);
      }
    }
    this.flushing = false;
    this.schedule();
  }
}

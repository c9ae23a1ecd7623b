import type { GatewaySocket } from "../socket/types";

interface Entry {
  socket: GatewaySocket;
  slot: number;
  warned: boolean;
}

export interface ExpiryWheelOptions {
  /** Seconds before `exp` that `onWarn` runs (default 30). */
  warnSeconds: number;
  /** How often due slots are processed; a socket ends at most this late after `exp` (default 250 ms). */
  tickMs?: number;
  onWarn(socket: GatewaySocket): void;
  onExpire(socket: GatewaySocket): void;
}

/**
 * One timer per gateway instead of one per socket: sockets are filed in one-second slots by their
 * next deadline (the warning, then `exp` from `socket.data`), and a single interval walks the slots
 * that have come due. Per socket this costs one map entry; `track` again after `auth:refresh`.
 */
export class ExpiryWheel {
  private readonly slots = new Map<number, Set<Entry>>();
  private readonly entries = new Map<string, Entry>();
  private cursor = Math.floor(Date.now() / 1000);
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: ExpiryWheelOptions) {
    this.timer = setInterval(() => this.tick(), options.tickMs ?? 250);
    this.timer.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Files (or re-files, after a refresh) a socket by its current `data.exp`. */
  track(socket: GatewaySocket): void {
    const previous = this.entries.get(socket.id);
    if (previous) this.unfile(previous);
    const entry: Entry = { socket, slot: 0, warned: false };
    this.entries.set(socket.id, entry);
    this.file(entry);
  }

  untrack(socket: GatewaySocket): void {
    const entry = this.entries.get(socket.id);
    if (!entry) return;
    this.unfile(entry);
    this.entries.delete(socket.id);
  }

  stop(): void {
    clearInterval(this.timer);
    this.slots.clear();
    this.entries.clear();
  }

  private file(entry: Entry): void {
    const exp = entry.socket.data.exp;
    const due = entry.warned ? exp : exp - this.options.warnSeconds;
    // A deadline already passed goes in the next slot processed.
    entry.slot = Math.max(due, this.cursor);
    let slot = this.slots.get(entry.slot);
    if (!slot) {
      slot = new Set();
      this.slots.set(entry.slot, slot);
    }
    slot.add(entry);
  }

  private unfile(entry: Entry): void {
    const slot = this.slots.get(entry.slot);
    if (!slot) return;
    slot.delete(entry);
    if (slot.size === 0) this.slots.delete(entry.slot);
  }

  private tick(): void {
    const now = Math.floor(Date.now() / 1000);
    // Bounded by the seconds elapsed since the last tick (normally zero or one).
    while (this.cursor <= now) {
      const second = this.cursor;
      this.cursor += 1;
      const due = this.slots.get(second);
      if (!due) continue;
      this.slots.delete(second);
      for (const entry of due) this.fire(entry, now);
    }
  }

  private fire(entry: Entry, now: number): void {
    const { socket } = entry;
    if (now >= socket.data.exp) {
      this.entries.delete(socket.id);
      this.options.onExpire(socket);
      return;
    }
    if (!entry.warned && now >= socket.data.exp - this.options.warnSeconds) {
      entry.warned = true;
      this.options.onWarn(socket);
    }
    this.file(entry);
  }
}

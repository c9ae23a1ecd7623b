/**
 * Keys seen in the last `ttlMs` (revoked sessions, removed memberships). A handshake or a join
 * that passed its database check just before the revocation committed, but joined its room just
 * after the event went by, looks here and ends itself: no window between check and join.
 */
export class RecentKeys {
  private readonly seen = new Map<string, number>();

  constructor(private readonly ttlMs = 30_000) {}

  add(key: string): void {
    const now = Date.now();
    this.seen.delete(key);
    this.seen.set(key, now);
    // Insertion order is age order: drop the stale head (bounded by the map's size).
    for (const [k, at] of this.seen) {
      if (now - at <= this.ttlMs) break;
      this.seen.delete(k);
    }
  }

  has(key: string): boolean {
    const at = this.seen.get(key);
    return at !== undefined && Date.now() - at <= this.ttlMs;
  }

  get size(): number {
    return this.seen.size;
  }

  clear(): void {
    this.seen.clear();
  }
}

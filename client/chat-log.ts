import type { MessageView } from "../shared/contract/views";

/** Message ids are decimal strings of a bigint: "10" > "9", so they are compared as BigInt. */
export const compareIds = (a: string, b: string): number => {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

export const byId = (a: MessageView, b: MessageView) => compareIds(a.id, b.id);

/**
 * What a socket delivered of one chat: the highest id (where a re-join resumes) and the recent ids,
 * for de-duplication in bounded memory. An id older than the window counts as seen: messages
 * arrive at most a little out of id order (across senders), never a window's length late.
 */
export class ChatLog {
  private readonly recent = new Set<string>();
  private floor = 0n;
  private top: bigint | undefined;
  highest: string | undefined;

  constructor(private readonly window = 1_000) {}

  /** Records a message's id; false when it was delivered already. */
  add(id: string): boolean {
    const n = BigInt(id);
    if (n <= this.floor || this.recent.has(id)) return false;
    this.recent.add(id);
    this.raise(id, n);
    if (this.recent.size > this.window) {
      const oldest = this.recent.values().next().value as string;
      this.recent.delete(oldest);
      const o = BigInt(oldest);
      if (o > this.floor) this.floor = o;
    }
    return true;
  }

  /** Starts after `id` without delivering anything: what came before is the app's history. */
  startAfter(id: string): void {
    const n = BigInt(id);
    if (n > this.floor) this.floor = n;
    this.raise(id, n);
  }

  private raise(id: string, n: bigint): void {
    if (this.top === undefined || n > this.top) {
      this.top = n;
      this.highest = id;
    }
  }
}

import type { ChangeView, MessageView } from "../shared/contract/views";
import { compareIds } from "./chat-log";

/**
 * What a socket last delivered of one chat's changes (edits, deletions, reactions, read positions),
 * so that one already delivered is not delivered again: a catch-up after a reconnect starts from
 * the cursor of the last join, and repeats what came live since. Changes are states, not steps:
 * one is passed on when it differs from the last one delivered for its message (or member).
 * Bounded: the most recently changed messages (an older one counts as unknown, and is passed on).
 */
export class ChangeState {
  /** `u <id>` → edited_at, `r <id>` → the reactions (as delivered), `d <id>` → deleted. */
  private readonly last = new Map<string, string>();
  /** Member → read position. */
  private readonly reads = new Map<string, string>();

  constructor(private readonly window = 2_000) {}

  /** A message delivered (`message:new`, a catch-up's missed): what it is now. */
  noteMessage(m: MessageView): void {
    if (m.deleted) return this.set(`d ${m.id}`, "");
    if (m.edited_at !== null) this.set(`u ${m.id}`, m.edited_at);
    this.set(`r ${m.id}`, JSON.stringify(m.reactions));
  }

  /** Whether `change` says something not delivered yet; if so it is noted as delivered. */
  take(change: ChangeView): boolean {
    switch (change.type) {
      case "message:read": {
        const { user_id: user, message_id: id } = change.data;
        const known = this.reads.get(user);
        // Read positions only move forward: an equal or older one is not news.
        if (known !== undefined && compareIds(id, known) <= 0) return false;
        this.reads.delete(user);
        this.reads.set(user, id);
        if (this.reads.size > this.window) this.reads.delete(this.reads.keys().next().value as string);
        return true;
      }
      case "message:deleted": {
        const key = `d ${change.data.message_id}`;
        if (this.last.has(key)) return false;
        this.set(key, "");
        return true;
      }
      case "message:updated": {
        const m = change.data;
        // A deleted message is not edited any more: an edit that comes after its deletion is old news.
        if (this.last.has(`d ${m.id}`)) return false;
        if (m.deleted) return this.take({ type: "message:deleted", data: { chat_id: m.chat_id, message_id: m.id } });
        const known = this.last.get(`u ${m.id}`);
        if (known !== undefined && m.edited_at !== null && Date.parse(m.edited_at) <= Date.parse(known)) return false;
        if (m.edited_at !== null) this.set(`u ${m.id}`, m.edited_at);
        return true;
      }
      case "message:reactions": {
        const { message_id: id, reactions } = change.data;
        if (this.last.has(`d ${id}`)) return false;
        const state = JSON.stringify(reactions);
        if (this.last.get(`r ${id}`) === state) return false;
        this.set(`r ${id}`, state);
        return true;
      }
    }
  }

  private set(key: string, value: string): void {
    this.last.delete(key);
    this.last.set(key, value);
    if (this.last.size > this.window) this.last.delete(this.last.keys().next().value as string);
  }
}

import type { ChangeView, MessageView, ReactionView } from "../shared/contract/views";

/**
 * The emoji the logged-in user has put on each message, as far as this client has seen, so that a
 * reaction list from someone else's point of view can be told from the user's own. A live
 * `message:reactions` carries `me` as the reacting user sees it, and a live `message:updated` as
 * its editor does; every other list the client gets (HTTP answers, the catch-up of a join, the
 * answers to the user's own socket events, events the user caused) carries the user's own.
 *
 * Shared by a client's HTTP calls and its sockets; bounded (the messages reacted to most recently).
 * A message it knows nothing of counts as one the user has not reacted to. What it knows belongs to
 * one user: another login starts it afresh.
 */
export class OwnReactions {
  /** Message id → the user's emoji on it (only messages with at least one). */
  private readonly mine = new Map<string, Set<string>>();
  private owner: string | undefined;

  constructor(
    /** The logged-in user's id. */
    readonly me: () => string | undefined,
    private readonly max = 10_000,
  ) {}

  /** A list with the user's own `me`: remembered as it is. */
  learn(messageId: string, reactions: readonly ReactionView[]): void {
    const mine = this.mineNow();
    mine.delete(messageId);
    const own = reactions.filter((r) => r.me).map((r) => r.emoji);
    if (own.length === 0) return;
    mine.set(messageId, new Set(own));
    if (mine.size > this.max) mine.delete(mine.keys().next().value as string);
  }

  /** Messages with the user's own `me` (HTTP answers, a join's catch-up). */
  learnMessages(messages: readonly (MessageView | null | undefined)[]): void {
    for (const m of messages) if (m) this.learn(m.id, m.reactions);
  }

  /**
   * A list from someone else's point of view, as the user sees it: each emoji's `me` is what the
   * user had; an emoji no longer on the message is gone for the user too.
   */
  correct(messageId: string, reactions: readonly ReactionView[]): ReactionView[] {
    const mine = this.mineNow();
    const own = mine.get(messageId);
    const present = new Set(reactions.map((r) => r.emoji));
    if (own) {
      for (const emoji of own) if (!present.has(emoji)) own.delete(emoji);
      if (own.size === 0) mine.delete(messageId);
    }
    return reactions.map((r) => ({ ...r, me: own?.has(r.emoji) ?? false }));
  }

  /** A deleted message: its reactions are gone. */
  forget(messageId: string): void {
    this.mineNow().delete(messageId);
  }

  /** What is known of the user logged in now (nothing yet after a change of user). */
  private mineNow(): Map<string, Set<string>> {
    const me = this.me();
    if (me !== this.owner) {
      this.mine.clear();
      this.owner = me;
    }
    return this.mine;
  }
}

/**
 * Messages and changes as the logged-in user sees them: what carries the user's own `me` teaches
 * `reactions`, what carries someone else's is corrected from it.
 */
export class Perspective {
  constructor(private readonly reactions: OwnReactions) {}

  /** Reactions with the user's own `me` (the answer to the user's own reaction). */
  learn(messageId: string, reactions: readonly ReactionView[]): void {
    this.reactions.learn(messageId, reactions);
  }

  /** The message was deleted. */
  forget(messageId: string): void {
    this.reactions.forget(messageId);
  }

  /** A message delivered: `live` from `message:new` (a new message has no reactions yet), else from a catch-up (the user's own). */
  message(m: MessageView, live: boolean): MessageView {
    if (!live) {
      this.reactions.learn(m.id, m.reactions);
      return m;
    }
    return m.reactions.length === 0 ? m : { ...m, reactions: this.reactions.correct(m.id, m.reactions) };
  }

  /** A change: `live` as an event came (someone else's `me`, unless the user caused it), else from a catch-up (the user's own). */
  change(c: ChangeView, live: boolean): ChangeView {
    switch (c.type) {
      case "message:read":
        return c;
      case "message:deleted":
        this.reactions.forget(c.data.message_id);
        return c;
      case "message:updated": {
        // A live edit carries the reactions as its editor (the sender) sees them.
        if (!live || c.data.sender.id === this.reactions.me()) {
          this.reactions.learn(c.data.id, c.data.reactions);
          return c;
        }
        return { type: c.type, data: { ...c.data, reactions: this.reactions.correct(c.data.id, c.data.reactions) } };
      }
      case "message:reactions": {
        // A live one carries `me` as `user_id` (who reacted) sees it; a catch-up's is the user's own.
        if (!live || c.data.user_id === this.reactions.me()) {
          this.reactions.learn(c.data.message_id, c.data.reactions);
          return c;
        }
        return { type: c.type, data: { ...c.data, reactions: this.reactions.correct(c.data.message_id, c.data.reactions) } };
      }
    }
  }
}

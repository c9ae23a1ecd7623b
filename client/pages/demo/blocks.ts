/** The users the signed-in user blocks: a list with Unblock in the sidebar, and who the room hides. */
import type { UserRef } from "../../../shared/contract/views";
import { type DemoContext, h, keepFocus, ui } from "./page";

export interface Blocks {
  has(userId: string): boolean;
  load(): Promise<void>;
  /** Blocks `user` (from a message's menu); their messages, reactions and typing stop reaching the user. */
  block(user: UserRef): Promise<void>;
  clear(): void;
}

/** `changed` runs after a block or an unblock made here (the room hides or shows that user's messages). */
export function createBlocks(ctx: DemoContext, changed: (user: UserRef, blocked: boolean) => void): Blocks {
  let users = new Map<string, UserRef>();

  function render(): void {
    ui.blocksEmpty.hidden = users.size > 0;
    keepFocus(ui.blocks, () =>
      ui.blocks.replaceChildren(
        ...[...users.values()].map((user) => {
          const unblock = h("button", { type: "button", className: "small secondary", dataset: { focus: `unblock:${user.id}` } }, "Unblock");
          unblock.setAttribute("aria-label", `Unblock ${user.username}`);
          unblock.addEventListener("click", async () => {
            unblock.disabled = true;
            try {
              await ctx.client.blocks.unblock(user.id);
              users.delete(user.id);
              render();
              ui.notice.textContent = `You unblocked ${user.username}.`;
              changed(user, false);
            } catch (err) {
              unblock.disabled = false;
              ctx.report(err, ui.notice);
            }
          });
          return h("li", { dataset: { testid: "blocked-user", userId: user.id } }, h("span", {}, user.username), unblock);
        }),
      ),
    );
  }

  return {
    has: (userId) => users.has(userId),
    async load() {
      try {
        const blocks = await ctx.client.blocks.list();
        users = new Map(blocks.map((b) => [b.user.id, b.user]));
        render();
      } catch (err) {
        ctx.report(err, ui.notice);
      }
    },
    async block(user) {
      await ctx.client.blocks.block(user.id);
      users.set(user.id, user);
      render();
      changed(user, true);
    },
    clear() {
      users = new Map();
      ui.blocks.replaceChildren();
      ui.blocksEmpty.hidden = false;
    },
  };
}

import { AppError } from "../../shared/contract/errors";
import { type BlockView, LIMITS } from "../../shared/contract/views";
import type { ControlBus } from "../../shared/control/bus";
import type { Db } from "../../shared/db/db";
import { sql } from "kysely";

export interface BlockDeps {
  db: Db;
  bus: ControlBus;
}

/**
 * Blocking, as Stream's mute: the blocker stops receiving the blocked user's messages, typing and
 * reactions (live, in history and in catch-ups), and the blocked user can no longer invite the
 * blocker or add them to a chat. The blocked user is not told. Unblocking restores this going forward.
 */
export async function block(deps: BlockDeps, userId: string, blockedId: string): Promise<BlockView> {
  if (blockedId === userId) throw new AppError("invalid_body", 400, "You cannot block yourself", { errors: [{ field: "user_id", message: "must be another user" }] });
  const row = await deps.db.transaction().execute(async (trx) => {
    const target = await trx.selectFrom("users").select(["id", "username"]).where("id", "=", blockedId).executeTakeFirst();
    if (!target) throw new AppError("not_found", 404, "No such user");
    // The blocker's row serialises its blocks: the bound holds under parallel calls.
    await trx.selectFrom("users").select("id").where("id", "=", userId).forUpdate().execute();
    const existing = await trx.selectFrom("user_blocks").select("created_at").where("blocker_id", "=", userId).where("blocked_id", "=", blockedId).executeTakeFirst();
    if (existing) return { target, created_at: existing.created_at, created: false };
    const { count } = await trx.selectFrom("user_blocks").select(sql<number>`count(*)::int`.as("count")).where("blocker_id", "=", userId).executeTakeFirstOrThrow();
    if (count >= LIMITS.blocksMax) throw new AppError("forbidden", 403, `You may block at most ${LIMITS.blocksMax} users`);
    const inserted = await trx.insertInto("user_blocks").values({ blocker_id: userId, blocked_id: blockedId }).returning("created_at").executeTakeFirstOrThrow();
    return { target, created_at: inserted.created_at, created: true };
  });
  if (row.created) await deps.bus.publish({ type: "block_changed", user_id: userId, blocked_id: blockedId, blocked: true });
  return { user: { id: row.target.id, username: row.target.username }, created_at: row.created_at.toISOString() };
}

/** Unblocking a user who is not blocked is no error (204 either way). */
export async function unblock(deps: BlockDeps, userId: string, blockedId: string): Promise<void> {
  const result = await deps.db.deleteFrom("user_blocks").where("blocker_id", "=", userId).where("blocked_id", "=", blockedId).executeTakeFirst();
  if (Number(result.numDeletedRows) > 0) await deps.bus.publish({ type: "block_changed", user_id: userId, blocked_id: blockedId, blocked: false });
}

export async function listBlocks(db: Db, userId: string): Promise<BlockView[]> {
  const rows = await db
    .selectFrom("user_blocks as b")
    .innerJoin("users as u", "u.id", "b.blocked_id")
    .select(["u.id", "u.username", "b.created_at"])
    .where("b.blocker_id", "=", userId)
    .orderBy("b.created_at", "desc")
    .execute();
  return rows.map((r) => ({ user: { id: r.id, username: r.username }, created_at: r.created_at.toISOString() }));
}

/** The users among `userIds` who block `userId` (who may then not invite them or add them to a chat). */
export async function blockersAmong(db: Db, userId: string, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const rows = await db.selectFrom("user_blocks").select("blocker_id").where("blocked_id", "=", userId).where("blocker_id", "in", [...userIds]).execute();
  return new Set(rows.map((r) => r.blocker_id));
}

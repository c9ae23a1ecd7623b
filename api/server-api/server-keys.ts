import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import type { Db } from "../../shared/db/db";
import type { ServerKeyRow, ServerScope } from "../../shared/db/schema";

/** What a server key may do: `publish` messages and events, `moderate` users and chats, `read` presence, stats and logs. */
export const SERVER_SCOPES = ["publish", "moderate", "read"] as const satisfies readonly ServerScope[];
export const serverScope = z.enum(SERVER_SCOPES);

/** Every key starts so: secret scanners and people can tell it from an access token (a JWT). */
export const SERVER_KEY_PREFIX = "wsk_";
const KEY_SHAPE = /^wsk_[A-Za-z0-9_-]{43}$/;

/** The stored form of a key: its SHA-256. A key has 256 random bits, so no slow hash is needed. */
export const hashServerKey = (key: string): string => createHash("sha256").update(key).digest("hex");

/** True for a string shaped like a server key (not a proof that it is one). */
export const looksLikeServerKey = (value: string): boolean => KEY_SHAPE.test(value);

export interface ServerKeyInfo {
  id: string;
  name: string;
  scopes: ServerScope[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const info = (row: ServerKeyRow): ServerKeyInfo => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes,
  created_at: row.created_at.toISOString(),
  last_used_at: row.last_used_at?.toISOString() ?? null,
  revoked_at: row.revoked_at?.toISOString() ?? null,
});

/** A new key: the returned `key` is the only copy there will ever be (PostgreSQL keeps its hash). */
export async function createServerKey(db: Db, name: string, scopes: ServerScope[]): Promise<ServerKeyInfo & { key: string }> {
  const key = SERVER_KEY_PREFIX + randomBytes(32).toString("base64url");
  const row = await db
    .insertInto("server_keys")
    .values({ name, scopes: [...new Set(scopes)].sort() as ServerScope[], key_hash: hashServerKey(key) })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...info(row), key };
}

export async function listServerKeys(db: Db): Promise<ServerKeyInfo[]> {
  return (await db.selectFrom("server_keys").selectAll().orderBy("created_at").execute()).map(info);
}

/** Revokes a key; false when there is no such live key. Every replica reads keys per call, so it fails at once everywhere. */
export async function revokeServerKey(db: Db, id: string): Promise<boolean> {
  const res = await db.updateTable("server_keys").set({ revoked_at: new Date() }).where("id", "=", id).where("revoked_at", "is", null).executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/** The live key a presented secret stands for (looked up by its hash), or undefined. */
export async function findServerKey(db: Db, key: string): Promise<ServerKeyRow | undefined> {
  if (!looksLikeServerKey(key)) return undefined;
  return db.selectFrom("server_keys").selectAll().where("key_hash", "=", hashServerKey(key)).where("revoked_at", "is", null).executeTakeFirst();
}

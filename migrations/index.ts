import type { Migration } from "kysely";
import * as accounts from "./20261128120000_accounts";
import * as chats from "./20261128120100_chats";
import * as inviteLifecycle from "./20261129120000_invite_lifecycle";
import * as sessionEpoch from "./20261206120000_session_epoch";
import * as inviteBounds from "./20261206130000_invite_bounds";
import * as serverApi from "./20261207120000_server_api";
import * as webhooks from "./20261207130000_webhooks";
import * as chatEssentials from "./20261208120000_chat_essentials";
import * as changesCompaction from "./20261209120000_chat_changes_compaction";

/**
 * Every migration, by name. Listed statically (not read from the folder) so that the same list
 * works from the TypeScript sources under vitest and from the compiled `dist/`.
 */
export const migrations: Record<string, Migration> = {
  "20261128120000_accounts": accounts,
  "20261128120100_chats": chats,
  "20261129120000_invite_lifecycle": inviteLifecycle,
  "20261206120000_session_epoch": sessionEpoch,
  "20261206130000_invite_bounds": inviteBounds,
  "20261207120000_server_api": serverApi,
  "20261207130000_webhooks": webhooks,
  "20261208120000_chat_essentials": chatEssentials,
  "20261209120000_chat_changes_compaction": changesCompaction,
};

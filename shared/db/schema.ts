import type { ColumnType, Generated, Selectable } from "kysely";

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface UserTable {
  id: Generated<string>;
  username: string;
  /** Null for accounts the app's backend manages without one (server API). */
  email: string | null;
  /** Null for accounts the app's backend manages (server API): they cannot use /login. */
  password_hash: string | null;
  created_at: CreatedAt;
  /** The app's own id of an account its backend manages (PUT /server/v1/users/:external_id). */
  external_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** While in the future (or 'infinity'), login, refresh and handshakes are refused with account_banned. */
  banned_until: NullableTimestamp;
  ban_reason: ColumnType<string | null, string | null | undefined, string | null>;
  /** Bumped when every session must end (a password change, log out everywhere); see sessions.repository. */
  session_epoch: ColumnType<number, number | undefined, number>;
}

export interface SessionTable {
  id: Generated<string>;
  user_id: string;
  user_agent: string | null;
  ip: string | null;
  created_at: CreatedAt;
  expires_at: Timestamp;
  last_seen_at: ColumnType<Date, Date | string | undefined, Date | string>;
  revoked_at: NullableTimestamp;
  revoked_reason: string | null;
}

export interface RefreshTokenTable {
  token_hash: string;
  session_id: string;
  created_at: CreatedAt;
  spent_at: NullableTimestamp;
}

export interface ChatTable {
  id: Generated<string>;
  name: string;
  created_by: string;
  created_at: CreatedAt;
}

export type ChatRole = "owner" | "member";

export interface ChatMemberTable {
  chat_id: string;
  user_id: string;
  role: ChatRole;
  joined_at: CreatedAt;
  /** The member's read position: the last message id read (0 before any); only moves forward. */
  read_id: ColumnType<string, string | undefined, string>;
}

export type InviteStatus = "pending" | "accepted" | "declined" | "cancelled";

export interface InviteTable {
  id: Generated<string>;
  chat_id: string;
  user_id: string;
  inviter_id: string;
  status: ColumnType<InviteStatus, InviteStatus | undefined, InviteStatus>;
  created_at: CreatedAt;
  responded_at: NullableTimestamp;
}

export interface MessageTable {
  // bigint identity: pg returns it as a decimal string, which is also the contract's id format.
  id: ColumnType<string, never, never>;
  chat_id: string;
  sender_id: string;
  /** Null once deleted (a tombstone keeps its id and position). */
  text: string | null;
  client_id: string | null;
  created_at: CreatedAt;
  edited_at: NullableTimestamp;
  deleted_at: NullableTimestamp;
}

export interface MessageReactionTable {
  message_id: string;
  user_id: string;
  emoji: string;
  created_at: CreatedAt;
}

export type ChangeType = "message:updated" | "message:deleted" | "message:reactions" | "message:read";

export interface ChatChangeTable {
  seq: ColumnType<string, never, never>;
  chat_id: string;
  type: ChangeType;
  message_id: string;
  user_id: string;
  created_at: CreatedAt;
}

export interface UserBlockTable {
  blocker_id: string;
  blocked_id: string;
  created_at: CreatedAt;
}

export interface MessageReportTable {
  id: Generated<string>;
  chat_id: string;
  message_id: string;
  sender_id: string;
  text: string | null;
  reporter_id: string;
  reason: string;
  created_at: CreatedAt;
  resolved_at: NullableTimestamp;
  resolved_by: ColumnType<string | null, string | null | undefined, string | null>;
  resolution: ColumnType<string | null, string | null | undefined, string | null>;
}

export type ServerScope = "publish" | "moderate" | "read";

export interface ServerKeyTable {
  id: Generated<string>;
  name: string;
  scopes: ServerScope[];
  /** SHA-256 (hex) of the key: the key itself is shown once and stored nowhere. */
  key_hash: string;
  created_at: CreatedAt;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export interface ServerIdempotencyTable {
  chat_id: string;
  key: string;
  /** SHA-256 (hex) of the request the key was first used with. */
  request_hash: string;
  message_id: string | null;
  created_at: CreatedAt;
}

export interface Database {
  users: UserTable;
  sessions: SessionTable;
  refresh_tokens: RefreshTokenTable;
  chats: ChatTable;
  chat_members: ChatMemberTable;
  invites: InviteTable;
  messages: MessageTable;
  message_reactions: MessageReactionTable;
  chat_changes: ChatChangeTable;
  user_blocks: UserBlockTable;
  message_reports: MessageReportTable;
  server_keys: ServerKeyTable;
  server_idempotency: ServerIdempotencyTable;
}

export type UserRow = Selectable<UserTable>;
export type SessionRow = Selectable<SessionTable>;
export type ChatRow = Selectable<ChatTable>;
export type ChatMemberRow = Selectable<ChatMemberTable>;
export type InviteRow = Selectable<InviteTable>;
export type MessageRow = Selectable<MessageTable>;
export type ServerKeyRow = Selectable<ServerKeyTable>;

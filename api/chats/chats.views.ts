import type { ChatView, InviteView, MemberView } from "../../shared/contract/views";
import type { ChatRow } from "../../shared/db/schema";
import type { InviteJoinRow, MemberRow } from "./chats.repository";

/** Rows as clients see them (the views of shared/contract/views.ts). */

export const chatView = (c: Pick<ChatRow, "id" | "name" | "created_by" | "created_at">): ChatView => ({
  id: c.id,
  name: c.name,
  created_by: c.created_by,
  created_at: c.created_at.toISOString(),
});

export const memberView = (r: MemberRow): MemberView => ({ user_id: r.user_id, username: r.username, role: r.role, joined_at: r.joined_at.toISOString() });

export const inviteView = (r: InviteJoinRow): InviteView => ({
  id: r.id,
  chat: { id: r.chat_id, name: r.chat_name },
  inviter: { id: r.inviter_id, username: r.inviter_username },
  user: { id: r.invitee_id, username: r.invitee_username },
  created_at: r.created_at.toISOString(),
});

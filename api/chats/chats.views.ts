import type { ChatSummaryView, ChatView, InviteView, MemberView } from "../../shared/contract/views";
import { readPosition } from "../../shared/db/changes";
import { messageViewOf } from "../../shared/db/messages";
import type { ChatRow } from "../../shared/db/schema";
import type { ChatSummaryRow, InviteJoinRow, MemberRow } from "./chats.repository";

/** Rows as clients see them (the views of shared/contract/views.ts). */

export const chatView = (c: Pick<ChatRow, "id" | "name" | "created_by" | "created_at">): ChatView => ({
  id: c.id,
  name: c.name,
  created_by: c.created_by,
  created_at: c.created_at.toISOString(),
});

export const memberView = (r: MemberRow): MemberView => ({
  user_id: r.user_id,
  username: r.username,
  role: r.role,
  joined_at: r.joined_at.toISOString(),
  read_message_id: readPosition(r.read_id),
});

/** `GET /chats`'s item: the chat, the caller's unread count and read position, the last message. */
export const chatSummaryView = (r: ChatSummaryRow): ChatSummaryView => ({
  ...chatView(r),
  unread_count: r.unread_count,
  read_message_id: readPosition(r.read_id),
  last_message:
    r.m_id === null
      ? null
      : messageViewOf({
          id: r.m_id,
          chat_id: r.id,
          sender_id: r.m_sender_id,
          username: r.m_username,
          text: r.m_text,
          client_id: r.m_client_id,
          created_at: r.m_created_at,
          edited_at: r.m_edited_at,
          deleted_at: r.m_deleted_at,
          reactions: r.m_reactions,
        }),
});

export const inviteView = (r: InviteJoinRow): InviteView => ({
  id: r.id,
  chat: { id: r.chat_id, name: r.chat_name },
  inviter: { id: r.inviter_id, username: r.inviter_username },
  user: { id: r.invitee_id, username: r.invitee_username },
  created_at: r.created_at.toISOString(),
});

import type { SessionView } from "../../shared/contract/views";
import type { SessionRow } from "../../shared/db/schema";

/** A session as its owner sees it in `GET /sessions`; `current` marks the caller's own. */
export const sessionView = (s: SessionRow, currentId: string): SessionView => ({
  id: s.id,
  created_at: s.created_at.toISOString(),
  expires_at: s.expires_at.toISOString(),
  last_seen_at: s.last_seen_at.toISOString(),
  user_agent: s.user_agent,
  ip: s.ip,
  current: s.id === currentId,
});

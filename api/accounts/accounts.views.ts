import type { UserView } from "../../shared/contract/views";
import type { UserRow } from "../../shared/db/schema";

export const userView = (u: Pick<UserRow, "id" | "username" | "email" | "created_at">): UserView => ({
  id: u.id,
  username: u.username,
  email: u.email,
  created_at: u.created_at.toISOString(),
});

/** The shapes clients see, shared by the api, the gateway and the test clients. */

export interface UserView {
  id: string;
  username: string;
  email: string;
  created_at: string;
}

export interface UserRef {
  id: string;
  username: string;
}

export interface ChatView {
  id: string;
  name: string;
  created_by: string;
  created_at: string;
}

export interface MemberView {
  user_id: string;
  username: string;
  role: "owner" | "member";
  joined_at: string;
}

export interface InviteView {
  id: string;
  chat: { id: string; name: string };
  inviter: UserRef;
  /** The invited user. */
  user: UserRef;
  created_at: string;
}

export interface MessageView {
  id: string;
  chat_id: string;
  sender: UserRef;
  text: string;
  client_id: string | null;
  created_at: string;
}

export interface SessionView {
  id: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
  user_agent: string | null;
  ip: string | null;
  current: boolean;
}

export interface LoginResult {
  token: string;
  type: "Bearer";
  expires_in: number;
  expires_at: string;
  refresh_token: string;
  session_id: string;
  user: UserView;
}

/** Limits of the contract, in one place for api and gateway. */
export const LIMITS = {
  bodyBytes: 16 * 1024,
  messageText: 4000,
  clientId: 64,
  historyDefault: 50,
  historyMax: 100,
  chatName: 100,
  chatMembersOnCreate: 100,
} as const;

import type { Pool } from "pg";
import { Batcher, type StatementPacing } from "../../shared/db/batcher";
import { factsOfColumns, type SessionFactsColumns, sessionError, sessionFactsSql, sessionVerdict } from "../../shared/db/sessions";
import type { AccessClaims } from "../../shared/auth/tokens";

/** Who asks: the session id and its user (a token's `sid` and `sub`, or a socket's). */
export type SessionRef = Pick<AccessClaims, "sid" | "sub">;

interface Request {
  session: SessionRef;
  chatId: string | undefined;
  blocks: boolean;
}

interface Row extends SessionFactsColumns {
  i: number;
  member: boolean | null;
  username: string | null;
  blocked: string[] | null;
}

/**
 * $1 session ids, $2 user ids (the tokens' `sub`), $3 chat ids or nulls, $4 whether to read the
 * users the user blocks (the handshake does), in handshake order. It
 * reads the session's facts only; `sessionVerdict` judges them.
 */
const CHECK_SQL = `
  select r.i::int as i,
    ${sessionFactsSql("s", "u")},
    u.username,
    case when r.blocks then array(select b.blocked_id::text from user_blocks b where b.blocker_id = r.user_id) end as blocked,
    case when r.chat_id is null then null
         else exists (select 1 from chat_members m where m.chat_id = r.chat_id and m.user_id = r.user_id) end as member
  from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bool[]) with ordinality as r(sid, user_id, chat_id, blocks, i)
  left join sessions s on s.id = r.sid
  left join users u on u.id = s.user_id`;

/** A live session's check: the user's name (presence and typing show it) and, when a chat was asked for, the membership. */
export interface SessionChecked {
  username: string;
  member: boolean | undefined;
  /** The users this user blocks (read only when asked: the handshake asks). */
  blocked: string[];
}

/** Defaults: one query in flight, 500 checks per query, 10 ms between two queries' starts (see the class). */
export type SessionCheckOptions = StatementPacing;

/**
 * The database check of the handshake and of every `chat:join` (a `message:send` is checked in
 * the statement that stores it: shared/db/messages.ts): the session row (exists, same user, not
 * revoked, not expired) and, when a chat is asked for, the membership, in one query. Checks that arrive while a query is in flight go together in the next one (one
 * round trip for many), so each is read from PostgreSQL after it arrived: nothing is cached, a
 * revocation that committed before a check began is always seen.
 *
 * One query in flight by default: under load the next batch then collects what arrived meanwhile
 * (two in flight made more queries and cost more CPU per handshake). And at least 10 ms between two
 * queries' starts: a check that finds a query begun less than 10 ms ago waits for the rest of the
 * interval, so under load a query carries many more checks; a check that finds none goes at once.
 * Each query costs the gateway far more CPU than a check in it (the driver, and the system calls
 * that wake PostgreSQL and are woken by it), so without the interval the queries were most of the
 * handshake's cost beyond a bare server's. The bench rows that show it: "server CPU per
 * authenticated handshake" and "PostgreSQL queries per handshake" (the figures, and the ablations
 * behind the choice: docs/benchmark-notes.md, "Handshakes").
 * The price: under load a handshake or a `chat:join` waits up to 10 ms more.
 */
export class SessionCheck {
  private readonly batcher: Batcher<Request, SessionChecked>;
  constructor(pool: Pool, options: SessionCheckOptions = {}) {
    this.batcher = new Batcher({ run: (batch) => runCheck(pool, batch), maxInFlight: options.maxInFlight ?? 1, maxBatch: options.maxBatch, minIntervalMs: options.minIntervalMs ?? 10 });
  }

  /**
   * Resolves with the user's name and the membership (undefined without `chatId`); throws AppError
   * `session_revoked` or `token_expired` (the one session rule, `sessionVerdict`), or the database's error.
   */
  check(session: SessionRef, chatId: string | undefined, options: { blocks?: boolean } = {}): Promise<SessionChecked> {
    return this.batcher.submit({ session, chatId, blocks: options.blocks ?? false });
  }
}

async function runCheck(pool: Pool, batch: Request[]): Promise<(SessionChecked | Error)[]> {
  const values = [batch.map((b) => b.session.sid), batch.map((b) => b.session.sub), batch.map((b) => b.chatId ?? null), batch.map((b) => b.blocks)];
  // A named statement is parsed once per connection.
  const rows = (await pool.query<Row>({ name: "wsac_session_check", text: CHECK_SQL, values })).rows;
  const byIndex = new Array<Row | undefined>(batch.length);
  for (const row of rows) byIndex[row.i - 1] = row;
  const now = Date.now();
  return batch.map((b, k) => {
    const row = byIndex[k];
    const verdict = sessionVerdict(factsOfColumns(row), b.session.sub, now);
    return verdict === "live" ? { username: row!.username ?? "", member: row!.member ?? undefined, blocked: row!.blocked ?? [] } : sessionError(verdict);
  });
}

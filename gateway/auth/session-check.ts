import type { Pool } from "pg";
import { sessionError, sessionVerdict } from "../../shared/sessions";
import type { AccessClaims } from "../../shared/tokens";

interface Request {
  claims: AccessClaims;
  chatId: string | undefined;
  resolve(member: boolean | undefined): void;
  reject(err: unknown): void;
}

interface Row {
  i: number;
  /** null when no such session. */
  user_id: string | null;
  revoked: boolean | null;
  /** The session's expiry in milliseconds since the epoch (a number: no timestamp is parsed per handshake). */
  expires_ms: number | null;
  member: boolean | null;
}

/** $1 session ids, $2 user ids (the tokens' `sub`), $3 chat ids or nulls, in handshake order. */
const CHECK_SQL = `
  select r.i::int as i,
    s.user_id::text as user_id,
    s.revoked_at is not null as revoked,
    (extract(epoch from s.expires_at) * 1000)::float8 as expires_ms,
    case when r.chat_id is null then null
         else exists (select 1 from chat_members m where m.chat_id = r.chat_id and m.user_id = r.user_id) end as member
  from unnest($1::uuid[], $2::uuid[], $3::uuid[]) with ordinality as r(sid, user_id, chat_id, i)
  left join sessions s on s.id = r.sid`;

export interface SessionCheckOptions {
  /** Queries in flight at once (the rest of the pool stays free for events). Default 2. */
  maxInFlight?: number;
  /** Handshakes per query. Default 500. */
  maxBatch?: number;
}

/**
 * The handshake's database check: the session row (exists, same user, not revoked, not expired)
 * and, when a chat is asked for, the membership, in one query. Handshakes that arrive while
 * queries are in flight are checked together in the next one (one round trip for many), so each
 * is read from PostgreSQL after it arrived: nothing is cached, a revocation that committed before
 * a handshake began is always seen. Without load a check goes out on the next turn of the loop.
 */
export class SessionCheck {
  private queue: Request[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;
  constructor(
    private readonly pool: Pool,
    options: SessionCheckOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 2;
    this.maxBatch = options.maxBatch ?? 500;
  }

  /**
   * Resolves with the membership (undefined without `chatId`); throws AppError `session_revoked`
   * or `token_expired` (the one session rule, `sessionVerdict`), or the database's error.
   */
  check(claims: AccessClaims, chatId: string | undefined): Promise<boolean | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ claims, chatId, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    // The handshakes decoded in this turn of the event loop go in one query.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatch);
      this.inFlight += 1;
      this.run(batch).finally(() => {
        this.inFlight -= 1;
        this.schedule();
      });
    }
  }

  private async run(batch: Request[]): Promise<void> {
    const values = [batch.map((b) => b.claims.sid), batch.map((b) => b.claims.sub), batch.map((b) => b.chatId ?? null)];
    let rows: Row[];
    try {
      // A named statement is parsed and planned once per connection; the verdicts come back as
      // booleans, so no timestamp is parsed per handshake.
      rows = (await this.pool.query<Row>({ name: "wsac_handshake_check", text: CHECK_SQL, values })).rows;
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    const byIndex = new Array<Row | undefined>(batch.length);
    for (const row of rows) byIndex[row.i - 1] = row;
    const now = Date.now();
    batch.forEach((b, k) => {
      const row = byIndex[k];
      const facts = row?.user_id ? { userId: row.user_id, revoked: row.revoked !== false, expiresAt: row.expires_ms ?? 0 } : undefined;
      const verdict = sessionVerdict(facts, b.claims.sub, now);
      if (verdict === "live") b.resolve(row!.member ?? undefined);
      else b.reject(sessionError(verdict));
    });
  }
}

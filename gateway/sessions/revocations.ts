import { sql } from "kysely";
import type { ControlEvent } from "../../shared/control/events";
import type { Db } from "../../shared/db/db";
import { endReason, factsOf, sessionVerdict } from "../../shared/db/sessions";
import type { SessionEndReason } from "../../shared/contract/events";
import type { GatewayMetrics } from "../gateway.metrics";
import type { LocalSockets } from "../socket/local-sockets";
import type { GatewaySocket } from "../socket/types";
import { RecentKeys } from "../control/recent-keys";

/** Session ids per re-check query (one array parameter). */
const BATCH = 5_000;

/**
 * Ends this gateway's sockets whose session is over: revoked (a control event, or found by the
 * re-check after the bus link was cut) or expired (the expiry wheel).
 */
export class Revocations {
  /** Sessions revoked lately: a handshake that passed its check just before can end itself. */
  private readonly recent = new RecentKeys();

  constructor(
    private readonly local: LocalSockets,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** `session:ended`, then the connection is closed (the client does not reconnect by itself). */
  end(socket: GatewaySocket, reason: SessionEndReason): void {
    if (!socket.connected) return;
    socket.emit("session:ended", { reason });
    socket.disconnect(true);
    this.metrics.sessionsEnded.inc({ reason });
  }

  apply(event: Extract<ControlEvent, { type: "session_revoked" }>): void {
    for (const sid of event.session_ids) {
      this.recent.add(sid);
      for (const socket of this.local.ofSession(sid)) this.end(socket, "revoked");
    }
    this.metrics.revocationsApplied.inc();
  }

  /** After a socket joined its rooms: was its session revoked while the handshake was checking? */
  revokedMeanwhile(socket: GatewaySocket): boolean {
    return this.recent.has(socket.data.sessionId);
  }

  /** Reads the sessions of every local socket, BATCH ids a query, and ends those that may no longer act. */
  async recheck(db: Db, sockets: readonly GatewaySocket[]): Promise<{ checked: number; ended: number }> {
    const ids = [...new Set(sockets.map((s) => s.data.sessionId))];
    const sessions = new Map<string, { user_id: string; revoked_at: Date | null; expires_at: Date }>();
    for (let i = 0; i < ids.length; i += BATCH) {
      const { rows } = await sql<{ id: string; user_id: string; revoked_at: Date | null; expires_at: Date }>`
        select s.id, s.user_id, s.revoked_at, s.expires_at
        from unnest(${ids.slice(i, i + BATCH)}::uuid[]) as r(id) join sessions s on s.id = r.id`.execute(db);
      for (const row of rows) sessions.set(row.id, row);
    }
    let ended = 0;
    const now = Date.now();
    for (const socket of sockets) {
      const row = sessions.get(socket.data.sessionId);
      const verdict = sessionVerdict(row && factsOf(row), socket.data.userId, now);
      if (verdict === "live") continue;
      this.end(socket, endReason(verdict));
      ended += 1;
    }
    if (ended > 0) this.metrics.revocationsApplied.inc(ended);
    return { checked: sockets.length, ended };
  }

  get size(): number {
    return this.recent.size;
  }

  clear(): void {
    this.recent.clear();
  }
}

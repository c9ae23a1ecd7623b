import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../db/db";
import type { WebhookEventType } from "../contract/server";

/**
 * Whether some enabled endpoint wants any of `types`, read every `intervalMs`: for events whose
 * tracking costs something even when nobody listens (a gateway's user-level presence). An endpoint
 * registered now hears of them within that interval.
 */
export class WebhookInterest {
  private wanted = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly types: readonly WebhookEventType[],
    private readonly logger: Logger,
    private readonly onWanted: () => void,
    intervalMs = 5_000,
  ) {
    this.timer = setInterval(() => void this.read(), intervalMs);
    this.timer.unref();
    void this.read();
  }

  get now(): boolean {
    return this.wanted;
  }

  private async read(): Promise<void> {
    try {
      const { rows } = await sql<{ wanted: boolean }>`
        select exists (select 1 from webhook_endpoints where disabled_at is null and (cardinality(events) = 0 or events && ${[...this.types]}::text[])) as wanted`.execute(this.db);
      const wanted = rows[0]?.wanted === true;
      if (wanted && !this.wanted) {
        this.wanted = true;
        this.onWanted();
      }
      this.wanted = wanted;
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, "reading the webhook endpoints failed; keeping the last answer");
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

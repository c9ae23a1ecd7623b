import type { Pool } from "pg";
import { Batcher, type StatementPacing } from "../../shared/db/batcher";
import type { Db } from "../../shared/db/db";
import { type NewMessage, type Stored, storeMessages } from "../../shared/db/messages";

/** A PostgreSQL integrity error (class 23: a chat or user deleted meanwhile, a check failed). */
const integrityError = (err: unknown) => typeof (err as { code?: unknown }).code === "string" && (err as { code: string }).code.startsWith("23");

/** Defaults: 500 messages per statement, 10 ms between two statements' starts (see the class). */
export type MessageBatchOptions = Omit<StatementPacing, "maxInFlight"> & {
  /** The pool under `db`: the insert then runs as a named statement. */
  pool?: Pool;
};

/**
 * The gateway's `message:send` stores: messages from every socket that arrive while a statement is
 * in flight go into the next one (`storeMessages`: one round trip and one commit for many, each
 * sender's session and membership checked in it), so PostgreSQL's commit rate no longer bounds the
 * messages per second. One statement runs at a time and ids are drawn in the order messages were
 * handed in, so a socket that hands its messages in the order sent (its ordered queue) has them
 * stored in that order. A message to a chat deleted before the statement fails alone
 * (`not_found`); a batch that still breaks an integrity rule (a chat deleted during it) is retried
 * one message at a time.
 *
 * And at least 10 ms between two statements' starts, as for the session check: a message that finds a
 * statement begun less than 10 ms ago waits for the rest of the interval, so under a moderate load a
 * statement carries several messages instead of one; a message that finds none goes at once (a quiet
 * chat's message is not held). Each statement costs the gateway far more than a row in it (the driver,
 * the system calls that wake PostgreSQL and are woken by it, the answer's turn), so fewer, fuller
 * statements save gateway CPU per message at moderate rates: the bench row "fan-out: gateway CPU per
 * delivery, one gateway, 48 rooms of 10". The price: under that load a message's ack and broadcast wait
 * up to 10 ms more. 32 messages waiting go at once: a statement that size gains little by waiting, and
 * senders that wait for their acks before they send again (the bench row "stored messages/s": closed
 * loop) lost rate to the wait. The figures of both: docs/benchmark-notes.md, "Fan-out".
 */
export class MessageBatch {
  private readonly batcher: Batcher<NewMessage, Stored>;

  constructor(db: Db, options: MessageBatchOptions = {}) {
    this.batcher = new Batcher<NewMessage, Stored>({
      maxInFlight: 1,
      maxBatch: options.maxBatch ?? 500,
      minIntervalMs: options.minIntervalMs ?? 10,
      enoughToGo: 32,
      run: async (msgs) => {
        try {
          return await storeMessages(db, msgs, options.pool);
        } catch (err) {
          if (msgs.length === 1 || !integrityError(err)) throw err;
          return Promise.all(msgs.map((m) => storeMessages(db, [m], options.pool).then((s) => s[0]!, (e: unknown) => (e instanceof Error ? e : new Error(String(e))))));
        }
      },
    });
  }

  store(msg: NewMessage): Promise<Stored> {
    return this.batcher.submit(msg);
  }
}

import type { Logger } from "pino";
import type { Counter } from "prom-client";
import type { z } from "zod";
import { type ErrorCode, isAppError, isUnavailableError } from "../../shared/contract/errors";
import { type AckError, type ClientEventName, type ClientToServerEvents, clientEvents } from "../../shared/contract/events";
import { fieldIssues } from "../../shared/contract/validation";
import type { InFlightLimit } from "./in-flight";
import type { AckOf, GatewaySocket } from "./types";

export const ackError = (code: ErrorCode, message: string): AckError => ({ ok: false, error: { code, message } });

/** Thrown by a handler whose socket went away: nobody waits for the answer, so no more work is done. */
class SocketGone extends Error {}

/**
 * Stops a handler before its next query when its socket is gone (cut off, disconnected): events
 * accepted before the cut must not keep the database and memory busy for nobody.
 */
export function ensureConnected(socket: GatewaySocket): void {
  if (!socket.connected) throw new SocketGone("the socket is gone");
}

/** Turns anything thrown by a handler into an answer; unexpected errors are logged, never sent. */
export function toAckError(err: unknown, log: Logger, event: string): AckError {
  if (isAppError(err)) return ackError(err.code, err.message);
  if (isUnavailableError(err)) return ackError("unavailable", "A backing service is unavailable; try again");
  log.error({ err: err instanceof Error ? err.message : String(err), event }, "socket event failed");
  return ackError("internal", "Internal error");
}

type Ack = (res: unknown) => void;

export interface EventContext {
  log: Logger;
  events: Counter<"event" | "result">;
  /** Events of one socket that run at once. */
  inFlight: InFlightLimit;
}

/** A client event's listener, shared by every socket (it reads the socket from its argument). */
export type EventListener = (socket: GatewaySocket, args: unknown[]) => void;

/** A client event: its name and the one listener every socket shares. */
export interface EventDefinition {
  event: keyof ClientToServerEvents;
  listener: EventListener;
}

/**
 * A client event's listener: the arguments are checked (one payload, then an optional ack
 * callback), the payload is parsed with the event's schema in `clientEvents`, and `run`'s result or error becomes the ack
 * answer. A missing callback, junk arguments or a throwing handler never escape. One function
 * for all sockets: a socket costs no closure per event.
 */
export function defineEvent<E extends ClientEventName>(
  event: E,
  run: (socket: GatewaySocket, payload: z.output<(typeof clientEvents)[E]["payload"]>) => Promise<AckOf<E>> | AckOf<E>,
  ctx: EventContext,
  /**
   * `holdsSlot: false`: the event does not wait for, nor hold, one of the socket's in-flight slots.
   * For an event that holds no database connection while it waits (`chat:read` waits for a shared,
   * coalesced flush): holding a slot for that second would hold up the socket's other events.
   */
  options: { holdsSlot?: boolean } = {},
): EventDefinition {
  const schema = clientEvents[event].payload as z.ZodType as z.ZodType<z.output<(typeof clientEvents)[E]["payload"]>>;
  const listener: EventListener = (socket, args) => {
    const last = args.at(-1);
    const ack: Ack | undefined = typeof last === "function" ? (last as Ack) : undefined;
    const data = ack ? args.slice(0, -1) : args;
    const answer = (res: AckOf<E> | AckError) => {
      ctx.events.inc({ event, result: res.ok ? "ok" : res.error.code });
      try {
        ack?.(res);
      } catch {
        // The socket went away meanwhile; nothing to tell.
      }
    };
    if (data.length !== 1) {
      answer(ackError("invalid_payload", "Send exactly one payload object, then the acknowledgement callback"));
      return;
    }
    const parsed = schema.safeParse(data[0]);
    if (!parsed.success) {
      const detail = fieldIssues(parsed.error)
        .map((i) => `${i.field}: ${i.message}`)
        .join("; ");
      answer(ackError("invalid_payload", detail.slice(0, 500)));
      return;
    }
    const task = async () => {
      ensureConnected(socket);
      return run(socket, parsed.data);
    };
    (options.holdsSlot === false ? task() : ctx.inFlight.run(socket, task)).then(answer, (err: unknown) => {
      if (!(err instanceof SocketGone)) answer(toAckError(err, ctx.log, event));
    });
  };
  return { event, listener };
}

import type { Logger } from "pino";
import type { ControlBus } from "../../shared/control/bus";
import type { ControlEvent } from "../../shared/control/events";
import type { Db } from "../../shared/db/db";
import type { Membership } from "./membership";
import type { MessageRelay } from "./message-relay";
import type { Revocations } from "./revocations";

/**
 * Follows the api's control bus: each event goes to the part that applies it to this gateway's
 * sockets (revocations, membership, the message relay). After the bus link was cut, events
 * published meanwhile are lost, so sessions and memberships are re-checked against PostgreSQL
 * before the link counts as up again. Returns an unsubscribe.
 */
export function followControlBus(options: {
  bus: ControlBus;
  db: Db;
  revocations: Revocations;
  membership: Membership;
  relay: MessageRelay;
  logger: Logger;
  closing: () => boolean;
  /** Also told of the link's state (the outage replay); "up" only once the re-check is done. */
  onLink?: (up: boolean) => void;
}): () => void {
  const { bus, revocations, membership, relay, closing } = options;
  const log = options.logger.child({ module: "gateway:control" });

  const apply = (event: ControlEvent) => {
    switch (event.type) {
      case "session_revoked":
        return revocations.apply(event);
      case "member_removed":
        return membership.apply(event);
      case "message":
        return relay.apply(event);
    }
  };
  const unsubscribe = bus.subscribe((event) => {
    try {
      apply(event);
    } catch (err) {
      log.error({ err: (err as Error).message, type: event.type }, "control event failed");
    }
  });

  let run = 0;
  const recheck = async (mine: number) => {
    // Bounded retries (PostgreSQL may be down too); a newer reconnect takes over.
    for (let attempt = 0; attempt < 10 && mine === run && !closing(); attempt += 1) {
      try {
        const sessions = await revocations.recheck(options.db);
        const memberships = await membership.recheck(options.db);
        if (sessions.checked > 0) log.info({ ...sessions, ...memberships }, "re-checked local sockets after the control bus came back");
        break;
      } catch (err) {
        log.warn({ err: (err as Error).message, attempt }, "re-check after reconnect failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 5_000)).unref());
      }
    }
    if (mine === run && !closing()) options.onLink?.(true);
  };

  let wasDown = bus.link() === "down";
  const offLink = bus.onLink((link) => {
    if (link === "down") {
      run += 1;
      options.onLink?.(false);
      if (!wasDown) log.warn("control bus link down: revocations are enforced at handshakes and re-checked on reconnect");
      wasDown = true;
      return;
    }
    if (!wasDown) return void options.onLink?.(true);
    wasDown = false;
    run += 1;
    void recheck(run);
  });

  return () => {
    run += 1;
    unsubscribe();
    offLink();
  };
}

import type { GatewaySocket } from "../socket/types";
import type { Logger } from "pino";
import type { ControlBus } from "../../shared/control/bus";
import type { ControlEvent } from "../../shared/control/events";
import type { Db } from "../../shared/db/db";
import type { Membership } from "../chats/membership";
import type { Revocations } from "../sessions/revocations";

/**
 * Follows the api's control bus: each event goes to the part that applies it to this gateway's
 * sockets (revocations, membership, new key ids). While the bus link is cut, events
 * published meanwhile are lost, so sessions and memberships are re-checked against PostgreSQL
 * every second while it is down, and once more before the link counts as up again. Returns an
 * unsubscribe.
 */
export function followControlBus(options: {
  bus: ControlBus;
  db: Db;
  /** This gateway's connected sockets now. */
  sockets: () => GatewaySocket[];
  revocations: Revocations;
  membership: Membership;
  logger: Logger;
  closing: () => boolean;
  /** Also told of the link's state (the outage replay); "up" only once the re-check is done. */
  onLink?: (up: boolean) => void;
  /** While the link is down, the local sockets are re-checked this often. Default 1000 ms. */
  outageRecheckMs?: number;
  /** An api replica publishes these key ids (its JWKS): the gateway's JWKS source fetches again if one is new. */
  onKeysPublished?: (kids: string[]) => void;
  /** A notice for every socket of a user (invite:new, chat:added). */
  onUserNotice?: (event: Extract<ControlEvent, { type: "user_notice" }>) => void;
  /** A user of this gateway blocked or unblocked another (its sockets join or leave that user's muted room). */
  onBlockChanged?: (event: Extract<ControlEvent, { type: "block_changed" }>) => void;
  /** The server API asks about this gateway's sockets (GatewayQueries). */
  onQuery?: (event: Extract<ControlEvent, { type: "gateway_query" }>) => void;
}): () => void {
  const { bus, revocations, membership, closing } = options;
  const log = options.logger.child({ module: "gateway:control" });

  const apply = (event: ControlEvent) => {
    switch (event.type) {
      case "session_revoked":
        return revocations.apply(event);
      case "member_removed":
        return membership.apply(event);
      case "keys_published":
        return options.onKeysPublished?.(event.kids);
      case "gateway_query":
        return options.onQuery?.(event);
      case "user_notice":
        return options.onUserNotice?.(event);
      case "block_changed":
        return options.onBlockChanged?.(event);
    }
  };
  const unsubscribe = bus.subscribe((event) => {
    try {
      apply(event);
    } catch (err) {
      log.error({ err: (err as Error).message, type: event.type }, "control event failed");
    }
  });

  const recheckAll = async () => {
    // The sockets of the moment, once for both reads.
    const sockets = options.sockets();
    const sessions = await revocations.recheck(options.db, sockets);
    const memberships = await membership.recheck(options.db, sockets);
    return { ...sessions, ...memberships };
  };

  let run = 0;
  const recheck = async (mine: number) => {
    // Bounded retries (PostgreSQL may be down too); a newer reconnect takes over.
    for (let attempt = 0; attempt < 10 && mine === run && !closing(); attempt += 1) {
      try {
        const result = await recheckAll();
        if (result.checked > 0) log.info(result, "re-checked local sockets after the control bus came back");
        break;
      } catch (err) {
        log.warn({ err: (err as Error).message, attempt }, "re-check after reconnect failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 5_000)).unref());
      }
    }
    if (mine === run && !closing()) options.onLink?.(true);
  };

  // While the link is down no revocation or removal reaches this gateway: its sockets' sessions
  // and memberships are read from PostgreSQL every `outageRecheckMs` instead (each pass waits for
  // the previous one), so a revoking call made during the outage ends its sockets within about
  // that long plus one query, as the contract promises for an unreachable Redis.
  const outageRecheckMs = options.outageRecheckMs ?? 1_000;
  let outageTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  const whileDown = (mine: number) => {
    outageTimer = setTimeout(async () => {
      if (mine !== run || closing()) return;
      try {
        const result = await recheckAll();
        if (result.ended > 0 || result.removed > 0) log.info(result, "ended sockets found revoked or removed while the control bus is down");
        failures = 0;
      } catch (err) {
        if (failures++ === 0) log.warn({ err: (err as Error).message }, "re-check during the control bus outage failed; retrying every pass");
      }
      if (mine === run && !closing()) whileDown(mine);
    }, outageRecheckMs);
    outageTimer.unref();
  };

  let wasDown = bus.link() === "down";
  const offLink = bus.onLink((link) => {
    if (link === "down") {
      if (!wasDown) {
        log.warn("control bus link down: sessions and memberships are re-checked against PostgreSQL every %d ms until it is back", outageRecheckMs);
        run += 1;
        options.onLink?.(false);
        clearTimeout(outageTimer);
        whileDown(run);
      }
      wasDown = true;
      return;
    }
    if (!wasDown) return void options.onLink?.(true);
    wasDown = false;
    run += 1;
    clearTimeout(outageTimer);
    void recheck(run);
  });
  // Sockets may be accepted before the first subscription is confirmed (or while Redis is down at start).
  if (wasDown) whileDown(run);

  return () => {
    run += 1;
    clearTimeout(outageTimer);
    unsubscribe();
    offLink();
  };
}

import type { Logger } from "pino";
import type { ControlBus } from "../../shared/control-bus";
import type { SessionControl } from "./session-control";

/**
 * Applies the api's control events to this gateway's sockets, and after the bus link was cut
 * re-checks them against PostgreSQL (events published meanwhile are lost). Returns an unsubscribe.
 */
export function followControlBus(options: {
  bus: ControlBus;
  control: SessionControl;
  logger: Logger;
  closing: () => boolean;
  /** Also told of the link's state (the outage replay); "up" only once the re-check is done. */
  onLink?: (up: boolean) => void;
}): () => void {
  const { bus, control, closing } = options;
  const log = options.logger.child({ module: "gateway:control" });

  const unsubscribe = bus.subscribe((event) => {
    try {
      control.apply(event);
    } catch (err) {
      log.error({ err: (err as Error).message, type: event.type }, "control event failed");
    }
  });

  let run = 0;
  const recheck = async (mine: number) => {
    // Bounded retries (PostgreSQL may be down too); a newer reconnect takes over.
    for (let attempt = 0; attempt < 10 && mine === run && !closing(); attempt += 1) {
      try {
        const result = await control.recheck();
        if (result.checked > 0) log.info(result, "re-checked local sockets after the control bus came back");
        break;
      } catch (err) {
        log.warn({ err: (err as Error).message, attempt }, "re-check after reconnect failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 5_000)).unref());
      }
    }
    if (mine === run && !closing()) options.onLink?.(true);
  };

  let wasDown = bus.link?.() === "down";
  const offLink =
    bus.onLink?.((link) => {
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
    }) ?? (() => undefined);

  return () => {
    run += 1;
    unsubscribe();
    offLink();
  };
}

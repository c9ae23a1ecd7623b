import type { GatewaySocket } from "./types";

interface Slots {
  running: number;
  waiting: (() => void)[];
}

/**
 * At most `max` events of one socket run at once (the others wait their turn, in order): however
 * many events a client gets accepted, it holds at most `max` of the gateway's database connections,
 * and what waits is dropped when the socket goes. Sockets with nothing in flight carry nothing.
 */
export class InFlightLimit {
  private readonly slots = new WeakMap<GatewaySocket, Slots>();

  constructor(private readonly max: number) {}

  async run<T>(socket: GatewaySocket, task: () => Promise<T>): Promise<T> {
    let s = this.slots.get(socket);
    if (!s) this.slots.set(socket, (s = { running: 0, waiting: [] }));
    if (s.running >= this.max) await new Promise<void>((resolve) => s.waiting.push(resolve));
    else s.running += 1;
    try {
      return await task();
    } finally {
      const next = s.waiting.shift();
      if (next) next();
      else if (--s.running === 0) this.slots.delete(socket);
    }
  }
}

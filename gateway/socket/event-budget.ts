import type { GatewaySocket } from "./types";

export interface EventBudgetOptions {
  /** Points a socket may spend at once. */
  burst: number;
  /** Points refilled per second. */
  perSecond: number;
  /** Events refused in a row after which the socket is disconnected (it ignores `rate_limited`). */
  maxRefusedInARow: number;
}

interface Bucket {
  points: number;
  last: number;
  refusedInARow: number;
}

/** "flooding" comes once, when the socket passes `maxRefusedInARow`; its later events are "dropped". */
export type BudgetVerdict = "ok" | "refused" | "flooding" | "dropped";

/**
 * One token bucket per socket for every client event, whatever its name: an event costs a point
 * when it arrives, and work that turns out larger (a `chat:join` that returns many rows) is
 * charged afterwards, which may leave the bucket in debt. Buckets are made at a socket's first
 * event, so idle sockets carry none, and go with the socket (a WeakMap).
 */
export class EventBudget {
  private readonly buckets = new WeakMap<GatewaySocket, Bucket>();

  constructor(private readonly options: EventBudgetOptions) {}

  private bucket(socket: GatewaySocket): Bucket {
    const now = Date.now();
    let b = this.buckets.get(socket);
    if (!b) {
      b = { points: this.options.burst, last: now, refusedInARow: 0 };
      this.buckets.set(socket, b);
      return b;
    }
    b.points = Math.min(this.options.burst, b.points + ((now - b.last) / 1000) * this.options.perSecond);
    b.last = now;
    return b;
  }

  /** Spends `cost` points if the socket has them. */
  take(socket: GatewaySocket, cost = 1): BudgetVerdict {
    const b = this.bucket(socket);
    if (b.points >= cost) {
      b.points -= cost;
      b.refusedInARow = 0;
      return "ok";
    }
    b.refusedInARow += 1;
    if (b.refusedInARow <= this.options.maxRefusedInARow) return "refused";
    return b.refusedInARow === this.options.maxRefusedInARow + 1 ? "flooding" : "dropped";
  }

  /**
   * Settles work found out after the event was accepted: a positive cost is charged (the bucket
   * may go below zero), a negative one gives back part of a hold taken up front.
   */
  charge(socket: GatewaySocket, cost: number): void {
    if (cost === 0) return;
    const b = this.bucket(socket);
    b.points = Math.min(this.options.burst, b.points - cost);
  }
}

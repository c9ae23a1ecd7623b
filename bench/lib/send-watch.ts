/**
 * What a gateway made to send to one watched connection (the attack bench's attacker): counted in
 * the server child (server-proc's `watch`), read by the attack phase.
 */

export type WatchedConn = {
  transport: { name: string; socket?: { bufferedAmount?: number } };
  prependListener(event: string, fn: (...args: any[]) => void): void;
};

/** What the gateway made to send to one watched socket (times are Date.now()). */
export interface SendWatch {
  packets: number;
  bytes: number;
  firstAt: number | null;
  lastAt: number | null;
  /** The largest packet: one catch-up answer, in the attack bench. */
  largest: number;
  /** What waited in Engine.IO and the WebSocket (not yet in the kernel) at most. */
  maxWaiting: number;
  /** When what waited first passed `maxBytes`; the bytes made until then, and how many of them the kernel had taken. */
  crossedAt: number | null;
  crossedPackets: number | null;
  crossedBytes: number | null;
  kernelAtCross: number | null;
}

/**
 * Counts what the gateway makes for one connection as the gateway's send-buffer guard does (every
 * Engine.IO packet since the last flush, plus the WebSocket's bufferedAmount), from listeners put
 * before the guard's, so they see what it sees: when that first passes `maxBytes` is when the
 * guard cuts. Bytes made less what waits are (frame headers aside) what the kernel took.
 */
export function watchSends(conn: WatchedConn, maxBytes: number): SendWatch {
  const w: SendWatch = { packets: 0, bytes: 0, firstAt: null, lastAt: null, largest: 0, maxWaiting: 0, crossedAt: null, crossedPackets: null, crossedBytes: null, kernelAtCross: null };
  let pending = 0;
  conn.prependListener("packetCreate", (packet: { data?: unknown; options?: { wsPreEncodedFrame?: readonly Uint8Array[] } }) => {
    const frame = packet.options?.wsPreEncodedFrame;
    const data = packet.data;
    const n = frame
      ? frame.reduce((a, part) => a + part.byteLength, 0)
      : typeof data === "string"
        ? Buffer.byteLength(data)
        : data instanceof Uint8Array || data instanceof ArrayBuffer
          ? data.byteLength
          : 1;
    const now = Date.now();
    w.packets += 1;
    w.bytes += n;
    w.firstAt ??= now;
    w.lastAt = now;
    if (n > w.largest) w.largest = n;
    pending += n;
    const waiting = pending + (conn.transport.name === "websocket" ? (conn.transport.socket?.bufferedAmount ?? 0) : 0);
    if (waiting > w.maxWaiting) w.maxWaiting = waiting;
    if (waiting > maxBytes && w.crossedAt === null) {
      w.crossedAt = now;
      w.crossedPackets = w.packets;
      w.crossedBytes = w.bytes;
      w.kernelAtCross = w.bytes - waiting;
    }
  });
  conn.prependListener("flush", () => {
    pending = 0;
  });
  return w;
}

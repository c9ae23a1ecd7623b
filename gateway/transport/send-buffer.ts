/**
 * Reaches past Engine.IO's public API (see write-batching.ts for the pins and the test). This file
 * touches, on each Engine.IO socket (engine.io 6.6.13):
 * - the "packetCreate" event (public), and the packet's `options.wsPreEncodedFrame` (the frame
 *   Socket.IO encoded once for every recipient of a broadcast; internal);
 * - `writeBuffer`: its length, to tell a new buffer (the transport took the old one) from the same;
 * - `transport.name`, and for WebSocket `transport.socket.bufferedAmount` and
 *   `transport.socket.terminate()` (ws 8's public API on a socket Engine.IO keeps private).
 */
import type { Socket as EngineSocket } from "engine.io";
import type { GatewaySocket } from "../socket/types";

interface Packet {
  data?: unknown;
  options?: { wsPreEncodedFrame?: readonly Uint8Array[] };
}

interface Watch {
  /** Bytes in Engine.IO's write buffer: packets made since the transport last took them. */
  pending: number;
  /**
   * Packets counted in that write buffer. Engine.IO swaps in a new, empty array each time the
   * transport takes the old one, and tells of every packet before it pushes it: a buffer whose
   * length is not the count is a new one. (Holding the array itself to compare kept each socket's last
   * batch of frames alive until its next packet, for every young-generation GC to copy: the bench's
   * fan-out rows in rooms of 10; docs/benchmark-notes.md, "Writes".)
   */
  count: number;
  over: boolean;
  socket: GatewaySocket;
}

type Transport = { name: string; socket?: { bufferedAmount?: number; terminate?: () => void } };

function packetBytes(packet: Packet): number {
  // Broadcasts come with their WebSocket frame encoded once for every recipient.
  const frame = packet.options?.wsPreEncodedFrame;
  if (frame) {
    let n = 0;
    for (const part of frame) n += part.byteLength;
    return n;
  }
  const data = packet.data;
  if (typeof data === "string") return Buffer.byteLength(data);
  if (data instanceof Uint8Array || data instanceof ArrayBuffer) return data.byteLength;
  return 1;
}

/** What the WebSocket holds beyond Engine.IO: ws's own queue plus the TCP socket's unsent bytes. */
function transportBytes(conn: EngineSocket): number {
  const transport = conn.transport as unknown as Transport;
  return transport.name === "websocket" ? (transport.socket?.bufferedAmount ?? 0) : 0;
}

/**
 * Bounds what waits to be sent to one client. Every packet Engine.IO makes for a connection is
 * counted until its write buffer is handed to the transport (Engine.IO then starts a new array), plus what the WebSocket and the
 * TCP socket still hold; past `maxBytes` the connection is cut at once: its buffers are dropped,
 * so a client that stops reading costs at most about `maxBytes`. The listeners are shared by
 * every socket (`this` is the Engine.IO socket): a watched socket costs one small record.
 */
export function sendBufferGuard(options: { maxBytes: number; onExceeded(socket: GatewaySocket, bytes: number): void }) {
  const watches = new WeakMap<EngineSocket, Watch>();

  function onPacketCreate(this: EngineSocket, packet: Packet): void {
    const watch = watches.get(this);
    if (!watch || watch.over) return;
    // A new write buffer: the transport took everything counted so far (no "flush" listener needed).
    const length = (this as unknown as { writeBuffer: unknown[] }).writeBuffer.length;
    if (length !== watch.count) {
      watch.count = length;
      watch.pending = 0;
    }
    watch.count += 1;
    watch.pending += packetBytes(packet);
    const total = watch.pending + transportBytes(this);
    if (total <= options.maxBytes) return;
    watch.over = true;
    options.onExceeded(watch.socket, total);
    dropConnection(watch.socket);
  }

  return {
    watch(socket: GatewaySocket): void {
      const conn = socket.conn;
      watches.set(conn, { pending: 0, count: -1, over: false, socket });
      conn.on("packetCreate", onPacketCreate);
    },
  };
}

/**
 * Drops a client's connection and what it buffered at once: a WebSocket is terminated (a closing
 * handshake would wait behind the unread data, up to 30 s), a polling transport is closed.
 * `socket.disconnect(true)` alone leaves the TCP connection of a client that does not read open.
 */
export function dropConnection(socket: GatewaySocket): void {
  const conn = socket.conn;
  const transport = conn.transport as unknown as Transport;
  if (transport.name === "websocket" && typeof transport.socket?.terminate === "function") transport.socket.terminate();
  else conn.close(true);
}

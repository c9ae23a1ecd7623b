import type { Socket as NetSocket } from "node:net";
import type { Socket as EngineSocket } from "engine.io";
import type { GatewaySocket } from "./types";

type Transport = { name: string; socket?: { _socket?: NetSocket } };

/** TCP sockets corked in this turn of the event loop, uncorked together at its end. */
const corked = new Set<NetSocket>();
let scheduled = false;

function uncorkAll(): void {
  scheduled = false;
  for (const tcp of corked) tcp.uncork();
  corked.clear();
}

/**
 * ws writes every WebSocket frame with its own system call (it corks and uncorks the TCP socket
 * per frame). A socket that gets several frames in one turn of the event loop (a burst of
 * messages from the adapter, a presence join and a message) has its TCP socket corked at the
 * first and uncorked once the turn's callbacks have run (setImmediate): one writev for all of
 * them. A socket with a single frame pays a cork and an uncork, and a send waits at most until
 * the end of the turn. Shared listener: `this` is the Engine.IO socket.
 */
function onPacketCreate(this: EngineSocket): void {
  const transport = this.transport as unknown as Transport;
  if (transport.name !== "websocket") return;
  const tcp = transport.socket?._socket;
  if (!tcp || corked.has(tcp) || tcp.destroyed) return;
  tcp.cork();
  corked.add(tcp);
  if (!scheduled) {
    scheduled = true;
    setImmediate(uncorkAll);
  }
}

export function batchWrites(socket: GatewaySocket): void {
  socket.conn.on("packetCreate", onPacketCreate);
}

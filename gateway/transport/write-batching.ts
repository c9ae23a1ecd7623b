import type { Socket as NetSocket } from "node:net";
import type { GatewaySocket } from "../socket/types";

type Transport = { name: string; socket?: { _socket?: NetSocket } };
/** The parts of an Engine.IO socket this module touches (private in its types). */
interface Conn {
  transport: unknown;
  writeBuffer: unknown[];
  flush(): void;
}

/** Engine.IO's own flush: hands the write buffer to the transport when it is writable. */
let engineFlush: ((this: Conn) => void) | undefined;
/** Connections that got packets in this turn of the event loop, flushed together at its end. */
let pending = new Set<Conn>();
let scheduled = false;

function flushAll(): void {
  scheduled = false;
  const batch = pending;
  pending = new Set();
  for (const conn of batch) {
    const transport = conn.transport as unknown as Transport;
    const socket = transport.name === "websocket" ? transport.socket?._socket : undefined;
    const tcp = socket?.destroyed ? undefined : socket;
    // Every frame of the flush (ws corks and uncorks per frame) in one write.
    tcp?.cork();
    try {
      engineFlush!.call(conn);
    } finally {
      tcp?.uncork();
    }
  }
}

/** Stands in for `flush` on each connection: the packets of this turn wait for its end. */
function deferredFlush(this: Conn): void {
  if (this.writeBuffer.length === 0) return;
  pending.add(this);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}

/**
 * Engine.IO flushes its write buffer at every packet, and a WebSocket takes one flush at a time:
 * the first packet of a burst goes out at once and every later one waits for that write's
 * callback, then goes out in a write of its own (a `message:send`'s broadcast and its ack: two
 * system calls per message for the sender; a burst of messages from the adapter: one per
 * message). Here a connection's flush waits for the end of the turn of the event loop
 * (setImmediate), and then every packet made in the turn goes to the transport together, its
 * TCP socket corked around them: one writev per socket per turn. A packet waits at most until the
 * end of the turn. Engine.IO's close waits for its "drain", which the deferred flush still emits.
 */
export function batchWrites(socket: GatewaySocket): void {
  const conn = socket.conn as unknown as Conn;
  engineFlush ??= conn.flush as (this: Conn) => void;
  conn.flush = deferredFlush;
}

/** The part of Engine.IO's server this module touches (internal: its HTTP server's "upgrade" listener calls it). */
interface UpgradeHandler {
  handleUpgrade(req: unknown, socket: NetSocket, head: Buffer): void;
}

/**
 * A WebSocket handshake answers in two writes: ws writes the `101 Switching Protocols` response,
 * then Engine.IO (after a microtask: its handshake awaits the id) sends the `open` packet. Each is
 * a system call and a wake-up of the client. Here the TCP socket stays corked from the upgrade
 * request to the end of that turn of the event loop (setImmediate, as the deferred flush), so both
 * leave in one write. Whatever ends the socket meanwhile (a refused upgrade writes its answer,
 * then destroys the socket) uncorks it first, so no answer is lost. Engine.IO's own method is
 * wrapped, not its `ws` server's: it makes a new one when the HTTP server starts listening.
 */
export function batchUpgradeWrites(engine: unknown): void {
  const server = engine as UpgradeHandler;
  const handleUpgrade = server.handleUpgrade.bind(server);
  server.handleUpgrade = (req, socket, head) => {
    const destroy = socket.destroy;
    let corked = true;
    const release = () => {
      if (!corked) return;
      corked = false;
      socket.destroy = destroy;
      socket.uncork();
    };
    socket.destroy = function (this: NetSocket, err?: Error) {
      release();
      return destroy.call(this, err);
    };
    socket.cork();
    setImmediate(release);
    try {
      handleUpgrade(req, socket, head);
    } catch (err) {
      release();
      throw err;
    }
  };
}

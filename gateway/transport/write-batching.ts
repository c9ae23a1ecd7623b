/**
 * gateway/transport/ is the only code that reaches past Socket.IO's and Engine.IO's public API.
 * socket.io, engine.io (and its ws), socket.io-adapter and the Redis adapter are pinned to exact
 * versions in package.json, and test/integration/gateway/transport-internals.test.ts fails when an
 * upgrade changes what is used here.
 *
 * This file touches, on each Engine.IO socket (`socket.conn`, engine.io 6.6.13):
 * - `flush()`: a method of its own, assigned over per connection (Engine.IO calls `this.flush()`
 *   after every packet it queues, and has no hook to defer it);
 * - `writeBuffer`: the array of packets waiting for the transport (read: empty or not);
 * - `transport.name` and, for WebSocket, `transport.socket._socket`: ws's TCP socket (private to
 *   ws 8), corked around a flush.
 * And on the HTTP server, Node's own "upgrade" event (public): the TCP socket of a WebSocket
 * handshake, corked until the end of its turn (its `destroy`, a Node method, is wrapped for that turn).
 */
import type { Server as HttpServer, IncomingMessage } from "node:http";
import type { Socket as NetSocket } from "node:net";
import type { Duplex } from "node:stream";
import type { GatewaySocket } from "../socket/types";

type Transport = { name: string; socket?: { _socket?: NetSocket } };
/** The parts of an Engine.IO socket this file touches (private in its types). */
interface Conn {
  transport: unknown;
  writeBuffer: unknown[];
  flush(): void;
}

/**
 * Engine.IO flushes its write buffer at every packet, and a WebSocket takes one flush at a time:
 * the first packet of a burst goes out at once and every later one waits for that write's
 * callback, then goes out in a write of its own (a `message:send`'s broadcast and its ack: two
 * system calls per message for the sender; a burst of messages from the adapter: one per
 * message). Here a connection's flush waits for the end of the turn of the event loop
 * (setImmediate), and then every packet made in the turn goes to the transport together, its
 * TCP socket corked around them: one writev per socket per turn (bench: the fan-out and stored
 * rows; docs/benchmark-notes.md, "Writes"). A packet waits at most until the end of the turn.
 * Engine.IO's close waits for its "drain", which the deferred flush still emits. One per gateway.
 */
export class WriteBatching {
  /** Engine.IO's own flush (the prototype's: the same for every connection). */
  private engineFlush: ((this: Conn) => void) | undefined;
  /** Connections that got packets in this turn of the event loop, flushed together at its end. */
  private pending = new Set<Conn>();
  private scheduled = false;
  private readonly deferredFlush: (this: Conn) => void;
  private readonly flushAll = () => this.flushPending();

  constructor() {
    const batching = this;
    // Engine.IO calls it as its own method, with the connection as `this`.
    this.deferredFlush = function (this: Conn) {
      batching.defer(this);
    };
  }

  /** Batches this socket's writes from now on. */
  watch(socket: GatewaySocket): void {
    const conn = socket.conn as unknown as Conn;
    this.engineFlush ??= conn.flush;
    conn.flush = this.deferredFlush;
  }

  private defer(conn: Conn): void {
    if (conn.writeBuffer.length === 0) return;
    this.pending.add(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private flushPending(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Set();
    for (const conn of batch) {
      const transport = conn.transport as unknown as Transport;
      const socket = transport.name === "websocket" ? transport.socket?._socket : undefined;
      const tcp = socket?.destroyed ? undefined : socket;
      // Every frame of the flush (ws corks and uncorks per frame) in one write.
      tcp?.cork();
      try {
        this.engineFlush!.call(conn);
      } finally {
        tcp?.uncork();
      }
    }
  }
}

/**
 * A WebSocket handshake answers in two writes: ws writes the `101 Switching Protocols` response,
 * then Engine.IO (after a microtask: its handshake awaits the id) sends the `open` packet. Each is
 * a system call and a wake-up of the client. Here the TCP socket of an upgrade request on `path`
 * stays corked from the request to the end of that turn of the event loop (setImmediate), so both
 * leave in one write. The listener runs before Engine.IO's (prepended). Whatever ends the socket
 * meanwhile (a refused upgrade writes its answer, then destroys the socket) uncorks it first, so
 * no answer is lost.
 */
export function corkUpgrades(httpServer: HttpServer, path: string): () => void {
  const onUpgrade = (req: IncomingMessage, stream: Duplex) => {
    if (!req.url?.startsWith(path)) return;
    const socket = stream as NetSocket;
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
  };
  httpServer.prependListener("upgrade", onUpgrade);
  return () => httpServer.off("upgrade", onUpgrade);
}

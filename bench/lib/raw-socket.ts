import { randomBytes } from "node:crypto";
import { connect as tcpConnect, type Socket } from "node:net";
import { SOCKET_PATH } from "../../shared/contract/events";

/**
 * A hand-made Socket.IO client on a plain `net` socket (WebSocket transport, Engine.IO v4), for
 * hostile-client tests and the bench (its attacker and light clients; test/support/raw-socket.ts
 * re-exports this file): it can flood events without waiting for answers and stop reading its side
 * of the connection (`pause()`), which no stock client lets one do.
 */
export interface RawSocketIo {
  /** The server's Engine.IO open packet (`sid`, `pingInterval`, `pingTimeout`, `maxPayload`, …). */
  readonly open: Record<string, unknown>;
  /** Sends one Socket.IO EVENT packet (`42<ackId>[event, payload]`); returns the ack id used. */
  emit(event: string, payload: unknown): number;
  /**
   * Sends the same EVENT packet `count` times in one write (one ack id for all: each is answered
   * on its own), so that a flood costs the sender next to nothing.
   */
  emitMany(event: string, payload: unknown, count: number): void;
  /** Sends any text frame as is (an Engine.IO packet such as `42[...]`). */
  sendText(text: string): void;
  /** Stops reading: what the server sends piles up in its buffers and the kernel's. */
  pause(): void;
  resume(): void;
  /** Bytes read from the server so far (frames included). */
  readonly bytesRead: number;
  /**
   * Resolves when the TCP connection is gone (closed or reset by the server), with the time it
   * happened. A paused socket notices only when it reads or writes again: `resume()` first.
   */
  readonly closed: Promise<number>;
  /** True once the server closed or reset the connection. */
  readonly isClosed: boolean;
  destroy(): void;
}

function frame(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const mask = randomBytes(4);
  const len = payload.length;
  const header = len < 126 ? Buffer.alloc(2) : len < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = 0x81; // FIN + text
  if (len < 126) header[1] = 0x80 | len;
  else if (len < 65_536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  for (let i = 0; i < len; i += 1) payload[i]! ^= mask[i % 4]!;
  return Buffer.concat([header, mask, payload]);
}

/** Parses complete server frames (unmasked) off the front of `buf`; returns their texts and the rest. */
function parseFrames(buf: Buffer): { texts: string[]; rest: Buffer } {
  const texts: string[] = [];
  let offset = 0;
  for (;;) {
    if (buf.length - offset < 2) break;
    const opcode = buf[offset]! & 0x0f;
    let len = buf[offset + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - offset < 4) break;
      len = buf.readUInt16BE(offset + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - offset < 10) break;
      len = Number(buf.readBigUInt64BE(offset + 2));
      head = 10;
    }
    if (buf.length - offset < head + len) break;
    if (opcode === 1) texts.push(buf.subarray(offset + head, offset + head + len).toString("utf8"));
    offset += head + len;
  }
  return { texts, rest: buf.subarray(offset) };
}

/**
 * Connects to `url` (http://host:port), upgrades `/ws/` to WebSocket, authenticates with
 * `auth: {token}` and resolves once the server accepted the Socket.IO connection; rejects with
 * the `connect_error` text otherwise. Engine.IO pings are answered while the socket is read.
 */
export function connectRaw(
  url: string,
  token: string,
  options: {
    localAddress?: string;
    timeoutMs?: number;
    /** More fields of the handshake's `auth` beside the token (e.g. `chat_id`). */
    auth?: Record<string, unknown>;
    /** Every text frame after the connection was accepted (a light receiver: the bench's fan-out). */
    onText?: (text: string) => void;
    /** Every chunk TCP hands over after the connection was accepted: its size and how many whole frames it completed. */
    onChunk?: (bytes: number, frames: number) => void;
  } = {},
): Promise<RawSocketIo> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket: Socket = tcpConnect({ host: u.hostname, port: Number(u.port), ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    let phase: "http" | "open" | "ready" = "http";
    /** What the connection waits for (named by the time-out's error: where a slow server keeps it). */
    let waiting: "the TCP connect" | "the upgrade's answer" | "the open packet" | "the CONNECT's answer" = "the TCP connect";
    let buf: Buffer = Buffer.alloc(0);
    let bytesRead = 0;
    let nextAck = 1;
    let open: Record<string, unknown> = {};
    let closedAt: number | undefined;
    let resolveClosed: (t: number) => void = () => undefined;
    const closed = new Promise<number>((r) => (resolveClosed = r));
    const timer = setTimeout(() => fail(new Error(`raw socket: no connection within the time-out (waiting for ${waiting})`)), options.timeoutMs ?? 5_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const gone = () => {
      if (closedAt !== undefined) return;
      closedAt = Date.now();
      resolveClosed(closedAt);
    };
    socket.on("close", gone);
    socket.on("error", gone);

    const handle: RawSocketIo = {
      get open() {
        return open;
      },
      emit(event, payload) {
        const id = nextAck++;
        socket.write(frame(`42${id}${JSON.stringify([event, payload])}`));
        return id;
      },
      emitMany(event, payload, count) {
        const one = frame(`42${nextAck++}${JSON.stringify([event, payload])}`);
        socket.write(Buffer.concat(Array.from({ length: count }, () => one)));
      },
      sendText(text) {
        socket.write(frame(text));
      },
      pause: () => void socket.pause(),
      resume: () => void socket.resume(),
      get bytesRead() {
        return bytesRead;
      },
      closed,
      get isClosed() {
        return closedAt !== undefined;
      },
      destroy: () => socket.destroy(),
    };

    socket.on("connect", () => {
      waiting = "the upgrade's answer";
      const key = randomBytes(16).toString("base64");
      socket.write(
        `GET ${SOCKET_PATH}/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on("data", (chunk: Buffer) => {
      bytesRead += chunk.length;
      buf = Buffer.concat([buf, chunk]);
      if (phase === "http") {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const status = buf.subarray(0, buf.indexOf("\r\n")).toString();
        if (!/ 101 /.test(status)) return fail(new Error(`raw socket: upgrade refused: ${status}`));
        buf = buf.subarray(end + 4);
        phase = "open";
        waiting = "the open packet";
      }
      const { texts, rest } = parseFrames(buf);
      buf = rest;
      if (phase === "ready") options.onChunk?.(chunk.length, texts.length);
      for (const text of texts) {
        if (text === "2") socket.write(frame("3")); // Engine.IO ping → pong
        else if (phase === "ready") options.onText?.(text);
        else if (phase === "open" && text.startsWith("0")) {
          open = JSON.parse(text.slice(1)) as Record<string, unknown>;
          socket.write(frame(`40${JSON.stringify({ ...options.auth, token })}`));
          waiting = "the CONNECT's answer";
        }
        else if (phase === "open" && text.startsWith("40")) {
          phase = "ready";
          clearTimeout(timer);
          resolve(handle);
        } else if (phase === "open" && text.startsWith("44")) {
          fail(new Error(`raw socket: connect_error ${text.slice(2)}`));
        }
      }
    });
  });
}

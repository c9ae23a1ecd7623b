import { createServer, type IncomingMessage, type Server as HttpServer, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Socket as NetSocket } from "node:net";
import { Server, type Socket } from "socket.io";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../support/waits";

/**
 * What gateway/transport/ reads and replaces inside Engine.IO and ws, checked on a real server and
 * client: an upgrade of socket.io, engine.io or ws that renames or reshapes any of it fails here,
 * before it can silently turn off write batching or the send-buffer bound. (The behaviour itself is
 * tested in write-batching.test.ts and hostile-clients.test.ts.)
 */

let http: HttpServer;
let io: Server;
let url: string;
const clients: ClientSocket[] = [];
let server: Socket;
/** What Engine.IO's middlewares were handed (release-request.ts keeps an upgrade's response). */
const middlewareCalls: { req: IncomingMessage; res: unknown; lastClose: unknown }[] = [];

beforeAll(async () => {
  http = createServer();
  io = new Server(http, { path: "/ws", transports: ["polling", "websocket"] });
  io.engine.use((req: IncomingMessage, res: unknown, next: () => void) => {
    const socket = (res as { socket?: NetSocket }).socket;
    middlewareCalls.push({ req, res, lastClose: socket instanceof NetSocket ? socket.rawListeners("close").at(-1) : undefined });
    next();
  });
  const connected = new Promise<Socket>((resolve) => io.once("connection", resolve));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  clients.push(connect(url, { path: "/ws", transports: ["websocket"], forceNew: true }));
  server = await connected;
  await server.join("room");
});
afterAll(async () => {
  for (const c of clients) c.close();
  await new Promise((resolve) => io.close(resolve));
});

/** The Engine.IO socket as transport/ sees it. */
type PacketListener = (packet: { options?: { wsPreEncodedFrame?: unknown } }) => void;
interface Conn {
  flush: unknown;
  writeBuffer: unknown;
  transport: { name: string; socket?: { _socket?: unknown; bufferedAmount?: unknown; terminate?: unknown } };
  on(event: "packetCreate", listener: PacketListener): void;
  off(event: "packetCreate", listener: PacketListener): void;
}
const conn = () => server.conn as unknown as Conn;

describe("the Engine.IO and ws internals gateway/transport/ relies on", () => {
  it("an Engine.IO socket has its own flush() and a writeBuffer array; a WebSocket transport has ws's TCP socket, bufferedAmount and terminate()", () => {
    const c = conn();
    expect(typeof c.flush).toBe("function");
    expect(Array.isArray(c.writeBuffer)).toBe(true);
    expect(c.transport.name).toBe("websocket");
    expect(c.transport.socket?._socket).toBeInstanceOf(NetSocket);
    expect(typeof c.transport.socket?.bufferedAmount).toBe("number");
    expect(typeof c.transport.socket?.terminate).toBe("function");
  });

  it("keeps the handshake's request as the Engine.IO socket's request, and a WebSocket upgrade's middleware response (no ServerResponse) holds it as req", () => {
    const request = (server.conn as unknown as { request: IncomingMessage }).request;
    const call = middlewareCalls.find((c) => c.req === request);
    expect(call).toBeDefined();
    expect(call!.res).not.toBeInstanceOf(ServerResponse);
    expect((call!.res as { req?: unknown }).req).toBe(request);
  });

  it("a WebSocket upgrade's response re-emits its TCP socket's close through a once listener, the socket's last when the middlewares run", () => {
    const request = (server.conn as unknown as { request: IncomingMessage }).request;
    const call = middlewareCalls.find((c) => c.req === request)!;
    const res = call.res as { socket: NetSocket; once(event: string, fn: () => void): void };
    expect(res.socket).toBeInstanceOf(NetSocket);
    const last = call.lastClose as ((...args: unknown[]) => void) & { listener?: () => void };
    expect(typeof last?.listener).toBe("function");
    expect(res.socket.rawListeners("close")).toContain(last);
    let reEmitted = false;
    res.once("close", () => (reEmitted = true));
    last.listener!();
    expect(reEmitted).toBe(true);
  });

  it("queues a packet by telling packetCreate first, then pushing it to writeBuffer, then calling this.flush()", async () => {
    const c = conn();
    const original = c.flush as () => void;
    const seen: string[] = [];
    const onCreate = () => seen.push(`packetCreate with ${(c.writeBuffer as unknown[]).length} queued`);
    c.on("packetCreate", onCreate);
    // The per-connection replacement write-batching.ts makes: Engine.IO must call it as `this.flush()`.
    c.flush = function (this: Conn) {
      seen.push(`flush with ${(this.writeBuffer as unknown[]).length} queued`);
      original.call(this);
    };
    try {
      const got = new Promise((resolve) => clients[0]!.once("probe", resolve));
      server.emit("probe", 1);
      await got;
    } finally {
      c.flush = original;
      c.off("packetCreate", onCreate);
    }
    expect(seen.slice(0, 2)).toEqual(["packetCreate with 0 queued", "flush with 1 queued"]);
  });

  it("hands a broadcast's packets to each WebSocket recipient with the frame encoded once (wsPreEncodedFrame)", async () => {
    const c = conn();
    const frames: unknown[] = [];
    const onCreate: PacketListener = (packet) => void frames.push(packet.options?.wsPreEncodedFrame);
    c.on("packetCreate", onCreate);
    try {
      const got = new Promise((resolve) => clients[0]!.once("wide", resolve));
      io.to("room").emit("wide", "x".repeat(100));
      await got;
    } finally {
      c.off("packetCreate", onCreate);
    }
    await eventually(() => frames.length >= 1, 2_000, "the broadcast's packet");
    const frame = frames[0] as unknown[];
    expect(Array.isArray(frame)).toBe(true);
    expect(frame.every((part) => part instanceof Uint8Array)).toBe(true);
  });
});

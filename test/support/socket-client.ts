import type { Agent } from "node:http";
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { type ClientToServerEvents, type HandshakeErrorData, SOCKET_PATH, type ServerToClientEvents } from "../../shared/contract/events";

/** A stock socket.io-client socket, typed with the contract's events. */
export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

type IoOptions = Partial<ManagerOptions & SocketOptions>;

/** In Node, engine.io-client hands these to its HTTP and WebSocket requests (its types say `agent: string | boolean` and leave `localAddress` out). */
interface NodeTransportOptions {
  agent?: Agent | string | boolean;
  localAddress?: string;
}

export type ClientOptions = Omit<IoOptions, "agent"> & NodeTransportOptions & { token?: string; chatId?: string };

/** The answer a client event's acknowledgement gets. */
export type Answer<E extends keyof ClientToServerEvents> = Parameters<Parameters<ClientToServerEvents[E]>[1]>[0];

export class ConnectRefused extends Error {
  constructor(
    message: string,
    readonly data: HandshakeErrorData | undefined,
  ) {
    super(message);
  }
}

/**
 * The sockets one fixture or test file opens, so that it closes exactly its own: as an app makes
 * them (path /ws), WebSocket only and no reconnection unless asked.
 */
export class SocketClients {
  private readonly open = new Set<ClientSocket>();

  socket(url: string, options: ClientOptions = {}): ClientSocket {
    const { token, chatId, agent, localAddress, ...rest } = options;
    // Spread as a plain object: socket.io-client's option types do not list them.
    const node: object = { ...(agent !== undefined ? { agent } : {}), ...(localAddress !== undefined ? { localAddress } : {}) };
    const socket: ClientSocket = io(url, {
      path: SOCKET_PATH,
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: 5_000,
      ...(token !== undefined ? { auth: { token } } : {}),
      ...(chatId !== undefined ? { query: { chat_id: chatId } } : {}),
      ...node,
      ...rest,
    });
    this.open.add(socket);
    socket.once("disconnect", () => {
      if (!socket.active) this.open.delete(socket);
    });
    return socket;
  }

  /** A connected socket, or the test fails with the refusal. */
  connect(url: string, options: ClientOptions = {}): Promise<ClientSocket> {
    return connected(this.socket(url, options));
  }

  /** The refusal a handshake gets (`connect_error` message and data); fails if it connects. */
  async refusal(url: string, options: ClientOptions = {}): Promise<{ message: string; data: HandshakeErrorData | undefined }> {
    const socket = this.socket(url, options);
    try {
      await connected(socket);
    } catch (err) {
      if (err instanceof ConnectRefused) return { message: err.message, data: err.data };
      throw err;
    } finally {
      socket.disconnect();
    }
    throw new Error("the handshake was accepted");
  }

  closeAll(): void {
    for (const socket of this.open) socket.disconnect();
    this.open.clear();
  }
}

/** Resolves once connected; rejects with ConnectRefused (the `connect_error` message and data). */
export function connected(socket: ClientSocket): Promise<ClientSocket> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    const ok = () => {
      socket.off("connect_error", bad);
      resolve(socket);
    };
    const bad = (err: Error & { data?: HandshakeErrorData }) => {
      socket.off("connect", ok);
      reject(new ConnectRefused(err.message, err.data));
    };
    socket.once("connect", ok);
    socket.once("connect_error", bad);
  });
}

/** Every client event has the same shape: one payload, then the acknowledgement callback. */
type AnyEmit = (event: string, payload: unknown, ack: (answer: unknown) => void) => unknown;

function request(socket: ClientSocket, event: string, payload: unknown, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${event} within ${timeoutMs} ms`)), timeoutMs);
    // Socket.IO types emit per event name; with a generic event name it cannot pick the overload.
    const emit = socket.emit.bind(socket) as AnyEmit;
    emit(event, payload, (answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

/** An event and its acknowledgement, bounded in time (a lost answer fails the test instead of hanging it). */
export function ask<E extends keyof ClientToServerEvents>(
  socket: ClientSocket,
  event: E,
  payload: Parameters<ClientToServerEvents[E]>[0],
  timeoutMs = 5_000,
): Promise<Answer<E>> {
  return request(socket, event, payload, timeoutMs) as Promise<Answer<E>>;
}

/** Like `ask`, with a payload the contract does not allow (what a hostile or broken client sends). */
export function askMalformed<E extends keyof ClientToServerEvents>(socket: ClientSocket, event: E, payload: unknown, timeoutMs = 5_000): Promise<Answer<E>> {
  return request(socket, event, payload, timeoutMs) as Promise<Answer<E>>;
}

/** Like `ask`, for an event named at run time (one a document lists): its answer is for the test to check. */
export function askNamed(socket: ClientSocket, event: string, payload: unknown, timeoutMs = 5_000): Promise<unknown> {
  return request(socket, event, payload, timeoutMs);
}

/** The socket without the contract's types: any event name with any arguments, acknowledged or not. */
export interface UntypedSocket {
  emit(event: string, ...args: unknown[]): unknown;
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown>;
  timeout(ms: number): UntypedSocket;
}

export const untyped = (socket: ClientSocket): UntypedSocket => socket as unknown as UntypedSocket;

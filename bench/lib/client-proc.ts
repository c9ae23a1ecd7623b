/**
 * A load generator in its own process (forked by bench/run.ts): stock socket.io-client sockets,
 * WebSocket transport, path /ws, from the loopback source address it is given
 * (BENCH_LOCAL_ADDRESS), so that several generators together pass one address's ~28k ephemeral
 * ports and each stays under its own descriptor limit. Commands are answered over IPC.
 */
import { performance } from "node:perf_hooks";
import argon2 from "argon2";
import { io, type Socket } from "socket.io-client";
import { SOCKET_PATH } from "../../shared/socket-events";
import { serve, sleep } from "./ipc";
import { summary } from "./stats";

const localAddress = process.env.BENCH_LOCAL_ADDRESS || undefined;

interface Item {
  token: string;
  chat?: string;
}

const held: Socket[] = [];
let dropped = 0;
const dropReasons: Record<string, number> = {};
let closing = false;

function open(url: string, item: Item, timeoutMs: number, extra: Record<string, unknown> = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      path: SOCKET_PATH,
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
      auth: { token: item.token },
      ...(item.chat ? { query: { chat_id: item.chat } } : {}),
      ...(localAddress ? { localAddress } : {}),
      ...extra,
    } as Parameters<typeof io>[1]);
    const timer = setTimeout(() => {
      socket.disconnect();
      reject(new Error("timeout"));
    }, timeoutMs + 1_000);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("connect_error");
      resolve(socket);
    });
    socket.once("connect_error", (err: Error) => {
      clearTimeout(timer);
      socket.disconnect();
      reject(err);
    });
  });
}

function track(socket: Socket): void {
  socket.on("disconnect", (reason: string) => {
    if (closing) return;
    dropped += 1;
    dropReasons[reason] = (dropReasons[reason] ?? 0) + 1;
  });
}

/** Opens `items.length` sockets, `concurrency` at a time, and keeps them. */
async function connect(args: { url: string; items: Item[]; concurrency: number; timeoutMs?: number; keep?: boolean }) {
  const { url, items, concurrency } = args;
  const timeoutMs = args.timeoutMs ?? 10_000;
  const errors: Record<string, number> = {};
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      const t = performance.now();
      try {
        const socket = await open(url, item, timeoutMs);
        latencies.push(performance.now() - t);
        ok += 1;
        if (args.keep === false) socket.disconnect();
        else {
          track(socket);
          held.push(socket);
        }
      } catch (err) {
        failed += 1;
        const msg = (err as Error).message;
        errors[msg] = (errors[msg] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const s = summary(latencies);
  return { ok, failed, errors, started, ended: Date.now(), p50: s.p50, p99: s.p99 };
}

async function closeAll() {
  closing = true;
  const n = held.length;
  for (const socket of held.splice(0)) socket.disconnect();
  // Let the close frames go out before the next phase.
  await sleep(200);
  closing = false;
  dropped = 0;
  for (const k of Object.keys(dropReasons)) delete dropReasons[k];
  return { closed: n };
}

function status() {
  let connected = 0;
  for (const s of held) if (s.connected) connected += 1;
  return { held: held.length, connected, dropped, dropReasons };
}

/**
 * Delivery latency: `members` sockets, one per session, alternately on gateway A and B, all in
 * the chat's room; the first `senders` (on A) each send `perSenderRate` messages per second.
 * Every receipt is timed against its send on this process's clock (single = receivers on A,
 * cross = receivers on B, through Redis).
 */
async function delivery(args: { a: string; b: string; chatId: string; tokens: string[]; senders: number; perSenderRate: number; durationMs: number }) {
  const sockets: { socket: Socket; side: "a" | "b" }[] = [];
  for (let i = 0; i < args.tokens.length; i += 1) {
    const side = i % 2 === 0 ? "a" : "b";
    sockets.push({ socket: await open(side === "a" ? args.a : args.b, { token: args.tokens[i]!, chat: args.chatId }, 10_000), side });
  }
  const sentAt = new Map<string, number>();
  const single: number[] = [];
  const cross: number[] = [];
  let late = 0;
  for (const { socket, side } of sockets) {
    socket.on("message:new", (m: { client_id: string | null }) => {
      const t = m.client_id ? sentAt.get(m.client_id) : undefined;
      if (t === undefined) return void (late += 1);
      (side === "a" ? single : cross).push(performance.now() - t);
    });
  }
  const senders = sockets.filter((s) => s.side === "a").slice(0, args.senders);
  const interval = 1000 / args.perSenderRate;
  const count = Math.floor((args.durationMs / 1000) * args.perSenderRate);
  let acked = 0;
  let refused = 0;
  const run = async (sender: Socket, k: number) => {
    await sleep((k * interval) / senders.length); // spread the senders over the interval
    for (let i = 0; i < count; i += 1) {
      const t0 = performance.now();
      const clientId = `${k}-${i}-${Math.random().toString(36).slice(2, 8)}`;
      sentAt.set(clientId, t0);
      sender
        .timeout(10_000)
        .emitWithAck("message:send", { chat_id: args.chatId, text: `bench ${clientId}`, client_id: clientId })
        .then(
          (res: { ok: boolean }) => (res.ok ? (acked += 1) : (refused += 1)),
          () => (refused += 1),
        );
      await sleep(Math.max(0, t0 + interval - performance.now()));
    }
  };
  const t = Date.now();
  await Promise.all(senders.map((s, k) => run(s.socket, k)));
  // Wait (bounded) until every receipt is in.
  const expected = acked + refused;
  const want = count * senders.length * sockets.length;
  for (let i = 0; i < 100 && single.length + cross.length < want; i += 1) await sleep(50);
  const sent = count * senders.length;
  for (const { socket } of sockets) socket.disconnect();
  return {
    sent,
    acked,
    refused,
    expectedAcks: expected,
    roomSize: sockets.length,
    onA: sockets.filter((s) => s.side === "a").length,
    rate: (sent / (Date.now() - t)) * 1000,
    deliveries: single.length + cross.length,
    wanted: want,
    late,
    single: summary(single),
    cross: summary(cross),
  };
}

/**
 * Revocation latency: each session has one socket on each of the gateways listed for it; the
 * session is revoked with DELETE /sessions/:id (its own token), one after another; each socket's
 * disconnect is timed from the moment that call returned.
 */
async function revocation(args: { api: string; sessions: { token: string; sid: string; gateways: string[] }[]; gapMs: number }) {
  const entries: { sockets: { socket: Socket; gone?: number; ended: boolean }[]; sid: string; token: string }[] = [];
  for (const s of args.sessions) {
    const sockets = [];
    for (const g of s.gateways) {
      const socket = await open(g, { token: s.token }, 10_000);
      const rec: { socket: Socket; gone?: number; ended: boolean } = { socket, ended: false };
      socket.on("session:ended", () => (rec.ended = true));
      socket.on("disconnect", () => (rec.gone = performance.now()));
      sockets.push(rec);
    }
    entries.push({ sockets, sid: s.sid, token: s.token });
  }
  const latencies: number[] = [];
  let before = 0;
  let httpFailed = 0;
  const returnedAt: number[] = [];
  for (const e of entries) {
    const res = await fetch(`${args.api}/sessions/${e.sid}`, { method: "DELETE", headers: { authorization: `Bearer ${e.token}` } });
    const t = performance.now();
    await res.arrayBuffer();
    if (res.status !== 204) httpFailed += 1;
    returnedAt.push(t);
    await sleep(args.gapMs);
  }
  // Bounded wait for the stragglers (the contract allows a second).
  for (let i = 0; i < 40 && entries.some((e) => e.sockets.some((s) => s.gone === undefined)); i += 1) await sleep(50);
  let missing = 0;
  let withoutEnded = 0;
  entries.forEach((e, i) => {
    for (const s of e.sockets) {
      if (s.gone === undefined) {
        missing += 1;
        s.socket.disconnect();
        continue;
      }
      if (!s.ended) withoutEnded += 1;
      const d = s.gone - returnedAt[i]!;
      if (d < 0) before += 1;
      latencies.push(Math.max(0, d));
    }
  });
  return { sessions: entries.length, sockets: latencies.length + missing, missing, before, withoutEnded, httpFailed, latency: summary(latencies) };
}

/**
 * POST /login against argon2.verify alone on the same hash: interleaved sequential rounds
 * (latency), then `concurrency` at a time (throughput), same count for both.
 */
async function login(args: { api: string; username: string; password: string; hash: string; rounds: number; concurrency: number; batch: number }) {
  const post = async () => {
    const res = await fetch(`${args.api}/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: args.username, password: args.password }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`login ${res.status}`);
  };
  const verify = async () => {
    if (!(await argon2.verify(args.hash, args.password))) throw new Error("verify false");
  };
  const timed = async (fn: () => Promise<void>) => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  await post();
  await verify();
  const l: number[] = [];
  const v: number[] = [];
  for (let i = 0; i < args.rounds; i += 1) {
    if (i % 2 === 0) {
      l.push(await timed(post));
      v.push(await timed(verify));
    } else {
      v.push(await timed(verify));
      l.push(await timed(post));
    }
  }
  const throughput = async (fn: () => Promise<void>) => {
    let next = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: args.concurrency }, async () => {
        while (next++ < args.batch) await fn();
      }),
    );
    return (args.batch / (performance.now() - t)) * 1000;
  };
  const lt: number[] = [];
  const vt: number[] = [];
  for (let i = 0; i < 2; i += 1) {
    lt.push(await throughput(post));
    vt.push(await throughput(verify));
  }
  return { login: summary(l), verify: summary(v), loginPerSec: Math.max(...lt), verifyPerSec: Math.max(...vt) };
}

serve({ connect, closeAll, status, delivery, revocation, login }, async () => {
  await closeAll();
});
process.send?.({ ready: true, info: { pid: process.pid, localAddress } });

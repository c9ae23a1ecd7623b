/**
 * A load generator in its own process (forked by bench/run.ts): stock socket.io-client sockets,
 * WebSocket transport, path /ws. Commands are answered over IPC.
 *
 * The stock sockets connect without binding a source address: the kernel then picks the port by
 * the whole address pair (each server's port has its own ~28k, and loopback reuses TIME_WAIT
 * pairs). Bound to a source address (BENCH_LOCAL_ADDRESS, as they once were), every connect made
 * the kernel search that address's ports past the TIME_WAIT ones the previous rounds' closes left
 * (24,000 after two handshake rounds): the generators then spent up to 1.9 cores in the kernel and
 * the rounds ran at a quarter of their rate, with both servers' CPU per handshake inflated by the
 * contention. The light sockets (a few thousand at most) and the attacker keep their address.
 */
import { performance } from "node:perf_hooks";
import argon2 from "argon2";
import { io, type Socket } from "socket.io-client";
import { SOCKET_PATH } from "../../shared/contract/events";
import { connectRaw, type RawSocketIo } from "./raw-socket";
import { serve, sleep, withRetries } from "./ipc";
import { summary } from "./stats";

const localAddress = process.env.BENCH_LOCAL_ADDRESS || undefined;

interface Item {
  token: string;
  chat?: string;
}

const held: Socket[] = [];
/** The server URL each held socket was opened to (closeAll can close one server's only). */
const heldUrl = new WeakMap<Socket, string>();
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

/**
 * Opens `items.length` sockets, `concurrency` at a time, and keeps them. With `retries`, a connect
 * that failed is tried again that many times after socket.io-client's back-off, as a stock client
 * would (a gateway whose event loop lags refuses new transports for a moment: HANDSHAKE_MAX_LAG_MS);
 * `errors` counts the last failure of each that never connected, `retriedErrors` every failure that
 * was tried again, and the latencies are each connection's last attempt.
 */
async function connect(args: { url: string; items: Item[]; concurrency: number; timeoutMs?: number; keep?: boolean; retries?: number }) {
  const { url, items, concurrency } = args;
  const timeoutMs = args.timeoutMs ?? 10_000;
  const retries = args.retries ?? 0;
  const errors: Record<string, number> = {};
  const retriedErrors: Record<string, number> = {};
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      const connected = await withRetries(
        retries,
        async () => {
          const t = performance.now();
          const socket = await open(url, item, timeoutMs);
          latencies.push(performance.now() - t);
          ok += 1;
          if (args.keep === false) socket.disconnect();
          else {
            track(socket);
            held.push(socket);
            heldUrl.set(socket, url);
          }
        },
        { errors, retried: retriedErrors },
      );
      if (!connected) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const s = summary(latencies);
  return { ok, failed, errors, retriedErrors, started, ended: Date.now(), p50: s.p50, p99: s.p99 };
}

/** Closes the held sockets: all of them, or with `url` those opened to that server. */
async function closeAll(args?: { url?: string }) {
  closing = true;
  let n = 0;
  const kept: Socket[] = [];
  for (const socket of held.splice(0)) {
    if (args?.url !== undefined && heldUrl.get(socket) !== args.url) kept.push(socket);
    else {
      socket.disconnect();
      n += 1;
    }
  }
  held.push(...kept);
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
 * cross = receivers on B, through Redis; with A = B every receiver is on the one gateway and
 * `all` is the figure). `deliveryOpen` / `deliveryRun` / `deliveryClose` split it so that the
 * same room can be measured more than once (the attack bench: without, then during an attack).
 */
interface Receipts {
  sentAt: Map<string, number>;
  single: number[];
  cross: number[];
  late: number;
  /** Receipts of messages sent in the run's first `earlyMs` (an attack's first moments; both sides). */
  start: number;
  earlyMs: number;
  early: number[];
}
interface Room {
  chatId: string;
  sockets: { socket: Socket; side: "a" | "b" }[];
  receipts: Receipts;
}
let room: Room | undefined;

async function deliveryOpen(args: { a: string; b: string; chatId: string; tokens: string[] }) {
  if (room) throw new Error("a delivery room is already open");
  const sockets: Room["sockets"] = [];
  try {
    for (let i = 0; i < args.tokens.length; i += 1) {
      const side = i % 2 === 0 ? "a" : "b";
      sockets.push({ socket: await open(side === "a" ? args.a : args.b, { token: args.tokens[i]!, chat: args.chatId }, 10_000), side });
    }
  } catch (err) {
    for (const { socket } of sockets) socket.disconnect();
    throw err;
  }
  const r: Room = { chatId: args.chatId, sockets, receipts: { sentAt: new Map(), single: [], cross: [], late: 0, start: 0, earlyMs: 0, early: [] } };
  for (const { socket, side } of sockets) {
    socket.on("message:new", (m: { client_id: string | null }) => {
      const rec = r.receipts;
      const t = m.client_id ? rec.sentAt.get(m.client_id) : undefined;
      if (t === undefined) return void (rec.late += 1);
      const latency = performance.now() - t;
      (side === "a" ? rec.single : rec.cross).push(latency);
      if (t - rec.start < rec.earlyMs) rec.early.push(latency);
    });
  }
  room = r;
  return { roomSize: sockets.length, onA: sockets.filter((s) => s.side === "a").length };
}

/**
 * One measurement on the open room; `senderOffset` picks other senders among the A sockets (other
 * users); `early` sums up the messages sent in the first `earlyMs` (default 2 s) apart.
 */
async function deliveryRun(args: { senders: number; perSenderRate: number; durationMs: number; senderOffset?: number; earlyMs?: number }) {
  const r = room;
  if (!r) throw new Error("no delivery room open");
  const rec: Receipts = { sentAt: new Map(), single: [], cross: [], late: 0, start: performance.now(), earlyMs: args.earlyMs ?? 2_000, early: [] };
  r.receipts = rec;
  const { sockets } = r;
  const onA = sockets.filter((s) => s.side === "a");
  const offset = args.senderOffset ?? 0;
  const senders = onA.slice(offset, offset + args.senders);
  const interval = 1000 / args.perSenderRate;
  const count = Math.floor((args.durationMs / 1000) * args.perSenderRate);
  let acked = 0;
  let refused = 0;
  const refusedCodes: Record<string, number> = {};
  const refuse = (code: string) => {
    refused += 1;
    refusedCodes[code] = (refusedCodes[code] ?? 0) + 1;
  };
  const run = async (sender: Socket, k: number) => {
    await sleep((k * interval) / senders.length); // spread the senders over the interval
    for (let i = 0; i < count; i += 1) {
      const t0 = performance.now();
      const clientId = `${k}-${i}-${Math.random().toString(36).slice(2, 8)}`;
      rec.sentAt.set(clientId, t0);
      sender
        .timeout(10_000)
        .emitWithAck("message:send", { chat_id: r.chatId, text: `bench ${clientId}`, client_id: clientId })
        .then(
          (res: { ok: boolean; error?: { code?: string } }) => (res.ok ? (acked += 1) : refuse(res.error?.code ?? "refused")),
          () => refuse("ack timeout"),
        );
      await sleep(Math.max(0, t0 + interval - performance.now()));
    }
  };
  const t = Date.now();
  await Promise.all(senders.map((s, k) => run(s.socket, k)));
  // Wait (bounded) until every receipt is in.
  const expected = acked + refused;
  const want = count * senders.length * sockets.length;
  for (let i = 0; i < 100 && rec.single.length + rec.cross.length < want; i += 1) await sleep(50);
  const sent = count * senders.length;
  return {
    sent,
    acked,
    refused,
    refusedCodes,
    expectedAcks: expected,
    roomSize: sockets.length,
    onA: onA.length,
    rate: (sent / (Date.now() - t)) * 1000,
    deliveries: rec.single.length + rec.cross.length,
    wanted: want,
    late: rec.late,
    single: summary(rec.single),
    cross: summary(rec.cross),
    all: summary([...rec.single, ...rec.cross]),
    early: summary(rec.early),
    earlyMs: rec.earlyMs,
    disconnected: sockets.filter((s) => !s.socket.connected).length,
  };
}

function deliveryClose() {
  const n = room?.sockets.length ?? 0;
  for (const { socket } of room?.sockets ?? []) socket.disconnect();
  room = undefined;
  return { closed: n };
}

async function delivery(args: { a: string; b: string; chatId: string; tokens: string[]; senders: number; perSenderRate: number; durationMs: number }) {
  await deliveryOpen(args);
  try {
    return await deliveryRun(args);
  } finally {
    deliveryClose();
  }
}

/**
 * Saturation (the cluster and fan-out benches): one room of the chat spread over every load
 * generator, each generator holding its share of the room's sockets on the gateway given per
 * socket. `satStep` sends open-loop (not waiting for acks) at `rate` messages per second from
 * `senders` of this generator's sockets; every receipt in any generator is timed against the send
 * on the machine's clock (`performance.timeOrigin + performance.now()`, the same in every process
 * here), carried in the message's client_id. Receipts are counted per step tag: `satCollect` hands
 * back what arrived for a tag (the count, per gateway, and the latencies, thinned to at most 20000
 * sorted values), and apart those of the messages sent in the step's last moments (a backlog shows
 * there); `satStep` does the same for its acks.
 *
 * An item may name a chat of its own (`chatId`): several rooms of the same size then make one
 * "room" here (the fan-out's rooms of 10: each sender sends to its own chat).
 *
 * `satOpen` options: `join: "event"` joins each socket with `chat:join {chat_id}` after it connected
 * (the bare chat server knows no `chat_id` in the handshake), else the handshake's `chat_id` does;
 * `stock: n` makes only the generator's first n sockets (its senders) stock socket.io-client ones,
 * the others light receivers (bench/lib/raw-socket.ts: a WebSocket that reads the frames and
 * takes the client_id out of the text, no Socket.IO parsing): what the gateway sends is the same,
 * and receiving costs the generator a fraction of what a stock client costs, so that in rooms of
 * hundreds the gateway, not the generators, is the limit.
 */
interface SatReceipts {
  sentAt: number[];
  latencies: number[];
  last: number;
  /** Receipts on the sockets of each gateway (the item's `gw`). */
  byGateway: number[];
}
interface SatRoom {
  chatId: string;
  sockets: Socket[];
  /** The chat each stock socket (sender) is in: its item's, else the room's. */
  senderChats: string[];
  light: RawSocketIo[];
  /** tag → receipts: when each message was sent (wall ms) and its latency (ms); when the last arrived. */
  receipts: Map<string, SatReceipts>;
}
const satRooms = new Map<string, SatRoom>();
const wall = () => performance.timeOrigin + performance.now();

/** A receipt of the message whose client_id is `id` (`<tag>|<sent at>|<n>`) on a socket of gateway `gw`. */
function satReceipt(r: SatRoom, id: string, gw: number): void {
  const bar = id.indexOf("|");
  if (bar < 0) return;
  const now = wall();
  const tag = id.slice(0, bar);
  const sentAt = Number(id.slice(bar + 1, id.indexOf("|", bar + 1)));
  let rec = r.receipts.get(tag);
  if (!rec) r.receipts.set(tag, (rec = { sentAt: [], latencies: [], last: 0, byGateway: [] }));
  rec.sentAt.push(sentAt);
  rec.latencies.push(now - sentAt);
  rec.last = now;
  rec.byGateway[gw] = (rec.byGateway[gw] ?? 0) + 1;
}

const CLIENT_ID = '"client_id":"';

/** A light receiver: connects, joins the chat with `chat:join`, and hands every `message:new`'s client_id to `receipt`. */
async function openLight(url: string, token: string, chatId: string, receipt: (clientId: string) => void): Promise<RawSocketIo> {
  let ackId = -1;
  let answered: (text: string) => void = () => undefined;
  const answer = new Promise<string>((res) => (answered = res));
  const raw = await connectRaw(url, token, {
    ...(localAddress ? { localAddress } : {}),
    timeoutMs: 10_000,
    onText(text) {
      if (text.startsWith('42["message:new"')) {
        const k = text.indexOf(CLIENT_ID);
        if (k >= 0) receipt(text.slice(k + CLIENT_ID.length, text.indexOf('"', k + CLIENT_ID.length)));
      } else if (text.startsWith(`43${ackId}[`)) answered(text);
    },
  });
  ackId = raw.emit("chat:join", { chat_id: chatId });
  let timer: NodeJS.Timeout | undefined;
  const text = await Promise.race([answer, new Promise<string>((res) => (timer = setTimeout(() => res("timeout"), 10_000)))]);
  clearTimeout(timer);
  if (!text.includes('"ok":true')) {
    raw.destroy();
    throw new Error(`chat:join: ${text.slice(0, 200)}`);
  }
  return raw;
}

async function satOpen(args: { room: string; chatId: string; items: { token: string; url: string; gw?: number; chatId?: string }[]; join?: "query" | "event"; stock?: number }) {
  if (satRooms.has(args.room)) throw new Error(`room ${args.room} is already open`);
  const r: SatRoom = { chatId: args.chatId, sockets: [], senderChats: [], light: [], receipts: new Map() };
  const stock = args.stock ?? Infinity;
  try {
    for (const [i, item] of args.items.entries()) {
      const gw = item.gw ?? 0;
      const chatId = item.chatId ?? args.chatId;
      if (i >= stock) {
        r.light.push(await openLight(item.url, item.token, chatId, (id) => satReceipt(r, id, gw)));
        continue;
      }
      const socket = await open(item.url, { token: item.token, ...(args.join === "event" ? {} : { chat: chatId }) }, 10_000);
      r.sockets.push(socket);
      r.senderChats.push(chatId);
      if (args.join === "event") {
        const res = await socket.timeout(10_000).emitWithAck("chat:join", { chat_id: chatId });
        if (!res.ok) throw new Error(`chat:join: ${JSON.stringify(res).slice(0, 200)}`);
      }
      socket.on("message:new", (m: { client_id: string | null }) => {
        if (m.client_id) satReceipt(r, m.client_id, gw);
      });
    }
  } catch (err) {
    for (const socket of r.sockets) socket.disconnect();
    for (const raw of r.light) raw.destroy();
    throw err;
  }
  satRooms.set(args.room, r);
  return { sockets: r.sockets.length, light: r.light.length };
}

async function satStep(args: { room: string; tag: string; rate: number; senders: number; durationMs: number; ackWaitMs: number; tailMs: number }) {
  const r = satRooms.get(args.room);
  if (!r) throw new Error(`no room ${args.room}`);
  const senders = r.sockets.slice(0, Math.min(args.senders, r.sockets.length));
  const count = Math.max(1, Math.round((args.rate * args.durationMs) / 1000));
  const interval = 1000 / args.rate;
  const ackLatencies: number[] = [];
  const ackSentAt: number[] = [];
  const refused: Record<string, number> = {};
  let acked = 0;
  let answered = 0;
  let allAnswered: () => void = () => undefined;
  const done = new Promise<void>((res) => (allAnswered = res));
  const answer = () => {
    answered += 1;
    if (answered === count) allAnswered();
  };
  const start = wall();
  let lateBy = 0;
  for (let i = 0; i < count; i += 1) {
    const due = start + i * interval;
    const wait = due - wall();
    if (wait > 1) await sleep(wait);
    else lateBy = Math.max(lateBy, -wait);
    const t = wall();
    const clientId = `${args.tag}|${t.toFixed(3)}|${i}`;
    senders[i % senders.length]!
      .timeout(10_000)
      .emitWithAck("message:send", { chat_id: r.senderChats[i % senders.length], text: `sat ${i}`, client_id: clientId })
      .then(
        (res: { ok: boolean; error?: { code?: string } }) => {
          if (res.ok) {
            acked += 1;
            ackSentAt.push(t);
            ackLatencies.push(wall() - t);
          } else refused[res.error?.code ?? "refused"] = (refused[res.error?.code ?? "refused"] ?? 0) + 1;
        },
        () => (refused["ack timeout"] = (refused["ack timeout"] ?? 0) + 1),
      )
      .finally(answer);
  }
  const sendEnd = wall();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise((res) => (timer = setTimeout(res, args.ackWaitMs)))]);
  clearTimeout(timer);
  const acksBy = wall();
  // What was still unanswered is waited for (bounded by the ack timeout) before the next step, so
  // that one step's backlog is not the next one's; it counts as not acked in time.
  const ackedInTime = acked;
  const inTime = thin(ackLatencies);
  const tail = thin(ackLatencies.filter((_, i) => ackSentAt[i]! >= sendEnd - args.tailMs));
  await Promise.race([done, sleep(11_000)]);
  return {
    sent: count,
    acked: ackedInTime,
    ackedInAll: acked,
    refused,
    start,
    sendEnd,
    acksBy,
    end: wall(),
    lateBy,
    /** Latencies of the acks in time (ms, sorted, thinned); of the sends in the last `tailMs` alone. */
    ack: inTime,
    ackTail: tail,
  };
}

/** Sorted, and at most `cap` values evenly spaced over the sorted ones (percentiles survive; the sum does not). */
function thin(xs: number[], cap = 20_000): number[] {
  const sorted = Float64Array.from(xs).sort();
  return sorted.length <= cap ? Array.from(sorted) : Array.from({ length: cap }, (_, i) => sorted[Math.floor((i * sorted.length) / cap)]!);
}

/**
 * Receipts of `tag` in this generator: their count, when the last came (wall ms), their latencies
 * (sorted, thinned), and those of the messages sent from `tailFrom` (wall ms) on.
 */
function satCollect(args: { room: string; tag: string; tailFrom: number }) {
  const r = satRooms.get(args.room);
  if (!r) throw new Error(`no room ${args.room}`);
  const rec = r.receipts.get(args.tag);
  r.receipts.delete(args.tag);
  const tail = (rec?.latencies ?? []).filter((_, i) => rec!.sentAt[i]! >= args.tailFrom);
  return { n: rec?.latencies.length ?? 0, last: rec?.last ?? 0, latencies: thin(rec?.latencies ?? []), tailN: tail.length, tail: thin(tail), byGateway: Array.from(rec?.byGateway ?? [], (x) => x ?? 0) };
}

/** How many receipts of `tag` this generator has so far (polled while a step drains). */
function satCount(args: { room: string; tag: string }) {
  return satRooms.get(args.room)?.receipts.get(args.tag)?.latencies.length ?? 0;
}

function satClose(args: { room?: string } = {}) {
  let n = 0;
  for (const [name, r] of satRooms) {
    if (args.room !== undefined && name !== args.room) continue;
    for (const socket of r.sockets) socket.disconnect();
    for (const raw of r.light) raw.destroy();
    n += r.sockets.length + r.light.length;
    satRooms.delete(name);
  }
  return { closed: n };
}

/**
 * The attacker of the attack bench: one hand-made Socket.IO client (bench/lib/raw-socket.ts)
 * that authenticates, stops reading (`pause()`) and floods `chat:join {chat_id, after}`, each of
 * which the gateway answers with up to 100 stored messages, all piling up on the gateway's side.
 *
 * A paused net socket does not see the peer's FIN or RST (reading is what would), so `closed` of
 * the raw socket would never resolve while the attacker reads nothing; a one-byte Engine.IO noop
 * ("6") written every `probeMs` makes the kernel report the reset on the next write instead. That
 * is still "never reading".
 */
let raw: RawSocketIo | undefined;
let rawStoppedAt: number | undefined;

async function floodConnect(args: { url: string; token: string }) {
  if (raw) throw new Error("an attacker is already connected");
  rawStoppedAt = undefined;
  raw = await connectRaw(args.url, args.token, { ...(localAddress ? { localAddress } : {}), timeoutMs: 10_000 });
  raw.pause();
  return { connectedAt: Date.now(), bytesRead: raw.bytesRead };
}

async function flood(args: { chatId: string; after: string; count: number; chunk: number; windowMs: number; probeMs: number }) {
  const r = raw;
  if (!r) throw new Error("no attacker connected (floodConnect first)");
  const start = Date.now();
  let sent = 0;
  let floodEnd: number | undefined;
  const probe = setInterval(() => {
    if (!r.isClosed) r.sendText("6");
  }, args.probeMs);
  try {
    while (sent < args.count && !r.isClosed && Date.now() - start < args.windowMs) {
      const n = Math.min(args.chunk, args.count - sent);
      // One write per chunk of identical frames: the attacker's own CPU stays out of the measurement.
      r.emitMany("chat:join", { chat_id: args.chatId, after: args.after }, n);
      sent += n;
      await new Promise<void>((resolve) => setImmediate(resolve)); // let the event loop breathe
    }
    floodEnd = Date.now();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([r.closed, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, start + args.windowMs - Date.now()))))]);
    clearTimeout(timer);
  } finally {
    clearInterval(probe);
  }
  const closedAt = r.isClosed ? await r.closed : null;
  const byUs = rawStoppedAt !== undefined && closedAt !== null && closedAt >= rawStoppedAt;
  return { start, floodEnd: floodEnd ?? null, sent, closedAt: byUs ? null : closedAt, stoppedByUsAt: rawStoppedAt ?? null, bytesRead: r.bytesRead, end: Date.now() };
}

function floodStop() {
  const r = raw;
  raw = undefined;
  if (!r) return { stopped: false };
  const wasClosed = r.isClosed;
  if (!wasClosed) rawStoppedAt = Date.now();
  r.destroy();
  return { stopped: !wasClosed, bytesRead: r.bytesRead };
}

/**
 * Soak cycles: for each item a stock client connects, joins its chat (`chat:join`), sends one
 * message, and disconnects; `concurrency` cycles at a time. Refused sends (rate limits) are
 * counted, not failures.
 */
async function cycles(args: { url: string; items: Item[]; concurrency: number; timeoutMs?: number; tag: string }) {
  const timeoutMs = args.timeoutMs ?? 10_000;
  const failed: Record<string, number> = {};
  const refused: Record<string, number> = {};
  let ok = 0;
  let sent = 0;
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < args.items.length) {
      const n = next++;
      const item = args.items[n]!;
      let stage = "connect";
      let socket: Socket | undefined;
      try {
        socket = await open(args.url, { token: item.token }, timeoutMs);
        stage = "join";
        const joined = await socket.timeout(timeoutMs).emitWithAck("chat:join", { chat_id: item.chat });
        if (!joined.ok) throw new Error(joined.error?.code ?? "refused");
        stage = "send";
        const clientId = `${args.tag}-${n}`;
        const res = await socket.timeout(timeoutMs).emitWithAck("message:send", { chat_id: item.chat, text: `soak ${clientId}`, client_id: clientId });
        if (res.ok) sent += 1;
        else refused[res.error?.code ?? "refused"] = (refused[res.error?.code ?? "refused"] ?? 0) + 1;
        ok += 1;
      } catch (err) {
        const key = `${stage}: ${(err as Error).message}`;
        failed[key] = (failed[key] ?? 0) + 1;
      } finally {
        socket?.disconnect();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency, args.items.length) }, worker));
  return { ok, sent, refused, failed, started, ended: Date.now() };
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

/** This generator's own CPU time so far (the fan-out bench reports the generators' CPU beside the gateway's). */
const cpu = () => ({ cpu: process.cpuUsage() });

/** This generator's memory after a GC (with --expose-gc) and the sockets it holds (the scale phase's client check). */
function mem() {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, open: held.filter((s) => s.connected).length };
}

serve({ cpu, mem, connect, closeAll, status, delivery, deliveryOpen, deliveryRun, deliveryClose, satOpen, satStep, satCollect, satCount, satClose, floodConnect, flood, floodStop, cycles, revocation, login }, async () => {
  floodStop();
  deliveryClose();
  satClose();
  await closeAll();
});
process.send?.({ ready: true, info: { pid: process.pid, localAddress } });

/**
 * The stored-messages load (bench phases `stored` and `webhooks`), in its own process: light sockets
 * that send `message:send` closed-loop (the next as soon as the last is acknowledged), PostgreSQL
 * driven directly with the single-row insert a message needs, closed-loop too, from a pool of the
 * same size as a gateway's, or the server API's `POST /server/v1/chats/{id}/messages`, closed-loop
 * over keep-alive connections. Commands are answered over IPC.
 */
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { io, type Socket } from "socket.io-client";
import { SOCKET_PATH } from "../../shared/contract/events";
import { connectRaw, type RawSocketIo } from "./raw-socket";
import { serve, sleep } from "./ipc";
import { summary } from "./stats";

const localAddress = process.env.BENCH_LOCAL_ADDRESS || undefined;

/**
 * A sender: a light client (bench/lib/raw-socket.ts, as the fan-out's receivers) that writes
 * its `message:send` frames itself and reads only the acknowledgement's id and `ok` off each
 * answer, so that the load generators cost little beside the gateway they load (the direct
 * inserts' client is a bare pg pool). At most one send of its own is waiting at a time.
 */
interface Sender {
  raw: RawSocketIo;
  chatId: string;
  waiting: { id: number; since: number; done(err: string | null): void } | undefined;
}
const senders: Sender[] = [];
/** One presence watcher per process (stock client: it reads every event). */
let watcher: Socket | undefined;

/** The answer of `43<id>[...]` (an ack): null when ok, else the error code. */
function onAck(sender: Sender, text: string): void {
  if (!text.startsWith("43") || !sender.waiting) return;
  const bracket = text.indexOf("[", 2);
  if (Number(text.slice(2, bracket)) !== sender.waiting.id) return;
  const w = sender.waiting;
  sender.waiting = undefined;
  if (text.startsWith('[{"ok":true', bracket)) return w.done(null);
  const answer = (JSON.parse(text.slice(bracket)) as { error?: { code?: string } }[])[0];
  w.done(answer?.error?.code ?? "refused");
}

/** Sends one event and resolves with null (ok) or the error code; a running `sweepTimeouts` ends it with "timeout". */
function ask(sender: Sender, event: string, payload: unknown): Promise<string | null> {
  return new Promise((done) => {
    const id = sender.raw.emit(event, payload);
    sender.waiting = { id, since: performance.now(), done };
  });
}

/** Ends every wait older than `timeoutMs` with "timeout" (one timer for all senders). */
function sweepTimeouts(timeoutMs: number): void {
  const now = performance.now();
  for (const s of senders) {
    const w = s.waiting;
    if (w && now - w.since > timeoutMs) {
      s.waiting = undefined;
      w.done("timeout");
    }
  }
}

async function open(args: { url: string; items: { token: string; chatId: string }[] }): Promise<number> {
  const sweeper = setInterval(() => sweepTimeouts(15_000), 1_000);
  try {
    await Promise.all(
      args.items.map(async (item) => {
        const sender: Sender = { raw: undefined as unknown as RawSocketIo, chatId: item.chatId, waiting: undefined };
        sender.raw = await connectRaw(args.url, item.token, { ...(localAddress ? { localAddress } : {}), timeoutMs: 15_000, onText: (text) => onAck(sender, text) });
        const err = await ask(sender, "chat:join", { chat_id: item.chatId });
        if (err !== null) throw new Error(`chat:join refused: ${err}`);
        senders.push(sender);
      }),
    );
  } finally {
    clearInterval(sweeper);
  }
  return senders.length;
}

/** What `send`, `direct` and `publish` answer (the phases read it as a type only: importing this file would run it). */
export interface RunResult {
  done: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
  latency: ReturnType<typeof summary>;
}

/**
 * `workers` closed loops for `durationMs`, each doing `once()` again as soon as the last finished.
 * `perWorker`: at most so many times each; `paceMs`: each loop's n-th call not before n × paceMs
 * from the start (the loops staggered across the interval), or at once when it is already late.
 */
async function closedLoops(
  workers: number,
  durationMs: number,
  once: (w: number, n: number) => Promise<string | null>,
  { perWorker = 1_000_000, paceMs }: { perWorker?: number | undefined; paceMs?: number | undefined } = {},
): Promise<RunResult> {
  const start = performance.now();
  const end = start + durationMs;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let done = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let n = 0; n < perWorker && performance.now() < end; n += 1) {
        const wait = paceMs ? start + (n + w / workers) * paceMs - performance.now() : 0;
        if (wait > 0) await sleep(wait);
        const t = performance.now();
        const err = await once(w, n);
        if (err === null) {
          done += 1;
          if (latencies.length < 50_000) latencies.push(performance.now() - t);
        } else {
          failed += 1;
          errors[err] = (errors[err] ?? 0) + 1;
        }
      }
    }),
  );
  return { done, failed, errors, seconds: (performance.now() - start) / 1000, latency: summary(latencies) };
}

let round = 0;

/**
 * Every open socket sends closed-loop for `durationMs`, or until it has sent `perSender` (a count of
 * messages, the same for every round); with `paceMs`, each at most one per `paceMs` (a rate).
 */
async function send(args: { durationMs: number; text: string; perSender?: number; paceMs?: number }): Promise<RunResult> {
  const tag = `${process.pid}-${(round += 1)}`;
  const sweeper = setInterval(() => sweepTimeouts(10_000), 500);
  try {
    return await closedLoops(senders.length, args.durationMs, (w, n) => {
      const s = senders[w]!;
      return ask(s, "message:send", { chat_id: s.chatId, text: args.text, client_id: `${tag}-${w}-${n}` });
    }, { perWorker: args.perSender, paceMs: args.paceMs });
  } finally {
    clearInterval(sweeper);
  }
}

/** The same rows inserted directly: one statement per message (as `message:send` stored them before batching), `concurrency` at once on a pool of `poolSize`. */
async function direct(args: { databaseUrl: string; poolSize: number; concurrency: number; durationMs: number; items: { chatId: string; senderId: string }[]; text: string }): Promise<RunResult> {
  const pool = new pg.Pool({ connectionString: args.databaseUrl, max: args.poolSize });
  const tag = `d${process.pid}-${(round += 1)}`;
  try {
    // Connections opened before the clock starts, as a gateway's are.
    await Promise.all(Array.from({ length: args.poolSize }, () => pool.query("select 1")));
    return await closedLoops(args.concurrency, args.durationMs, async (w, n) => {
      const item = args.items[w % args.items.length]!;
      try {
        await pool.query({
          name: "bench_direct_insert",
          text: "insert into messages (chat_id, sender_id, text, client_id) values ($1, $2, $3, $4) returning id, created_at",
          values: [item.chatId, item.senderId, args.text, `${tag}-${w}-${n}`],
        });
        return null;
      } catch (err) {
        return (err as { code?: string }).code ?? "error";
      }
    });
  } finally {
    await pool.end();
  }
}

/**
 * The server API's publish call closed-loop: `chatIds.length` publishers, one per chat, each
 * posting `{text}` to its chat's `POST /server/v1/chats/{id}/messages` (the system user's message)
 * again as soon as the last was answered, on keep-alive connections (one per publisher).
 */
async function publish(args: { url: string; key: string; chatIds: string[]; durationMs: number; text: string }): Promise<RunResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: args.chatIds.length });
  const target = new URL(args.url);
  const body = JSON.stringify({ text: args.text });
  const post = (chatId: string) =>
    new Promise<string | null>((done) => {
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: "POST",
          path: `/server/v1/chats/${chatId}/messages`,
          headers: { authorization: `Bearer ${args.key}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
          timeout: 10_000,
          ...(localAddress ? { localAddress } : {}),
        },
        (res) => {
          res.resume();
          res.on("end", () => done(res.statusCode === 201 ? null : `http_${res.statusCode}`));
          res.on("error", () => done("response_error"));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => done(err.message === "timeout" ? "timeout" : ((err as { code?: string }).code ?? "error")));
      req.end(body);
    });
  try {
    return await closedLoops(args.chatIds.length, args.durationMs, (w) => post(args.chatIds[w]!));
  } finally {
    agent.destroy();
  }
}

/** One socket that records the presence events of a chat (time of arrival, Date.now()). */
const seen = { joins: [] as { user: string; at: number }[], leaves: [] as { user: string; at: number }[] };
async function watchPresence(args: { url: string; token: string; chatId: string }): Promise<void> {
  const socket = io(args.url, {
    path: SOCKET_PATH,
    transports: ["websocket"],
    auth: { token: args.token },
    reconnection: false,
    forceNew: true,
    timeout: 15_000,
    ...(localAddress ? { localAddress } : {}),
  } as never);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect_error", reject);
    socket.once("connect", resolve);
  });
  const res = (await socket.timeout(15_000).emitWithAck("chat:join", { chat_id: args.chatId })) as { ok: boolean; error?: { code: string } };
  if (!res.ok) throw new Error(`chat:join refused: ${res.error?.code}`);
  socket.on("presence:join", (e: { user: { id: string } }) => seen.joins.push({ user: e.user.id, at: Date.now() }));
  socket.on("presence:leave", (e: { user_id: string }) => seen.leaves.push({ user: e.user_id, at: Date.now() }));
  watcher = socket;
}

serve(
  {
    open,
    watchPresence,
    presenceSeen: () => seen,
    send,
    direct,
    publish,
    cpu: () => process.cpuUsage(),
  },
  async () => {
    for (const s of senders) s.raw.destroy();
    watcher?.disconnect();
  },
);
process.send?.({ ready: true, info: { pid: process.pid } });

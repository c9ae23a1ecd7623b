/**
 * The stored-messages load (bench phase `stored`), in its own process: sockets that send
 * `message:send` closed-loop (the next as soon as the last is acknowledged), or PostgreSQL driven
 * directly with the single-row insert a message needs, closed-loop too, from a pool of the same
 * size as a gateway's. Commands are answered over IPC.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import { io, type Socket } from "socket.io-client";
import { SOCKET_PATH } from "../../shared/socket-events";
import { serve } from "./ipc";
import { summary } from "./stats";

const localAddress = process.env.BENCH_LOCAL_ADDRESS || undefined;
const senders: { socket: Socket; chatId: string }[] = [];

/** Socket.IO acks, bounded: a lost answer counts as a failure instead of hanging the run. */
function ask(socket: Socket, event: string, payload: unknown, timeoutMs: number): Promise<{ ok: boolean; error?: { code: string } }> {
  return socket.timeout(timeoutMs).emitWithAck(event, payload).catch(() => ({ ok: false, error: { code: "timeout" } }));
}

async function open(args: { url: string; items: { token: string; chatId: string }[] }): Promise<number> {
  await Promise.all(
    args.items.map(
      (item) =>
        new Promise<void>((resolve, reject) => {
          const socket = io(args.url, {
            path: SOCKET_PATH,
            transports: ["websocket"],
            auth: { token: item.token },
            reconnection: false,
            forceNew: true,
            timeout: 15_000,
            ...(localAddress ? { localAddress } : {}),
          } as never);
          socket.once("connect_error", (err) => reject(err));
          socket.once("connect", () => {
            ask(socket, "chat:join", { chat_id: item.chatId }, 15_000).then((res) => {
              if (!res.ok) return reject(new Error(`chat:join refused: ${res.error?.code}`));
              senders.push({ socket, chatId: item.chatId });
              resolve();
            }, reject);
          });
        }),
    ),
  );
  return senders.length;
}

interface RunResult {
  done: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
  latency: ReturnType<typeof summary>;
}

/** `workers` closed loops for `durationMs`, each doing `once()` again as soon as the last finished. */
async function closedLoops(workers: number, durationMs: number, once: (w: number, n: number) => Promise<string | null>): Promise<RunResult> {
  const start = performance.now();
  const end = start + durationMs;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let done = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let n = 0; n < 1_000_000 && performance.now() < end; n += 1) {
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

/** Every open socket sends closed-loop for `durationMs`. */
function send(args: { durationMs: number; text: string }): Promise<RunResult> {
  const tag = `${process.pid}-${(round += 1)}`;
  return closedLoops(senders.length, args.durationMs, async (w, n) => {
    const s = senders[w]!;
    const res = await ask(s.socket, "message:send", { chat_id: s.chatId, text: args.text, client_id: `${tag}-${w}-${n}` }, 10_000);
    return res.ok ? null : (res.error?.code ?? "refused");
  });
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

/** One socket that records the presence events of a chat (time of arrival, Date.now()). */
const seen = { joins: [] as { user: string; at: number }[], leaves: [] as { user: string; at: number }[] };
async function watchPresence(args: { url: string; token: string; chatId: string }): Promise<void> {
  await open({ url: args.url, items: [{ token: args.token, chatId: args.chatId }] });
  const socket = senders.at(-1)!.socket;
  socket.on("presence:join", (e: { user: { id: string } }) => seen.joins.push({ user: e.user.id, at: Date.now() }));
  socket.on("presence:leave", (e: { user_id: string }) => seen.leaves.push({ user: e.user_id, at: Date.now() }));
}

serve(
  {
    open,
    watchPresence,
    presenceSeen: () => seen,
    send,
    direct,
    cpu: () => process.cpuUsage(),
  },
  async () => {
    for (const s of senders) s.socket.disconnect();
  },
);
process.send?.({ ready: true, info: { pid: process.pid } });

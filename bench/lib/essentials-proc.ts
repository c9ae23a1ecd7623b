/**
 * The essentials phase's load (bench/phases/essentials.ts), in its own process: light sockets
 * (lib/raw-socket.ts) that join a chat each and then send `chat:typing` or `chat:read` at a set pace,
 * reading only each acknowledgement's id and `ok` (the `typing` and `message:read` broadcasts they
 * receive are skipped unparsed); and one catch-up client that joins a chat with a cursor and pages
 * with `has_more` until done. Commands are answered over IPC.
 */
import { performance } from "node:perf_hooks";
import { connectRaw, type RawSocketIo } from "./raw-socket";
import { serve, sleep } from "./ipc";
import { summary } from "./stats";
import type { RunResult } from "./stored-proc";

const localAddress = process.env.BENCH_LOCAL_ADDRESS || undefined;

interface Waiting {
  since: number;
  done(text: string | null, err: string | null): void;
}

/** A light socket: its chat, and its events waiting for their acknowledgement (by ack id). */
interface Light {
  raw: RawSocketIo;
  chatId: string;
  waiting: Map<number, Waiting>;
}

const sockets: Light[] = [];
const catchers = new Map<string, Light>();

/** The answer of `43<id>[...]` (an ack): the waiter gets the answer's text, and null (ok) or the error code. */
function onText(light: Light, text: string): void {
  if (!text.startsWith("43")) return;
  const bracket = text.indexOf("[", 2);
  const id = Number(text.slice(2, bracket));
  const w = light.waiting.get(id);
  if (!w) return;
  light.waiting.delete(id);
  if (text.startsWith('[{"ok":true', bracket)) return w.done(text.slice(bracket), null);
  const answer = (JSON.parse(text.slice(bracket)) as { error?: { code?: string } }[])[0];
  w.done(null, answer?.error?.code ?? "refused");
}

/** Sends one event; resolves with the answer's text (`[{…}]`) and null, or null and the error code ("timeout" after `timeoutMs`). */
function ask(light: Light, event: string, payload: unknown, timeoutMs = 15_000): Promise<{ text: string | null; err: string | null }> {
  return new Promise((resolve) => {
    const id = light.raw.emit(event, payload);
    const timer = setTimeout(() => {
      if (light.waiting.delete(id)) resolve({ text: null, err: "timeout" });
    }, timeoutMs);
    light.waiting.set(id, {
      since: performance.now(),
      done: (text, err) => {
        clearTimeout(timer);
        resolve({ text, err });
      },
    });
  });
}

async function connect(url: string, token: string, chatId: string): Promise<Light> {
  const light: Light = { raw: undefined as unknown as RawSocketIo, chatId, waiting: new Map() };
  light.raw = await connectRaw(url, token, { ...(localAddress ? { localAddress } : {}), timeoutMs: 15_000, onText: (text) => onText(light, text) });
  return light;
}

/** Connects a socket per item and joins its chat (a plain `chat:join`); returns how many are open. */
async function open(args: { url: string; items: { token: string; chatId: string }[] }): Promise<number> {
  await Promise.all(
    args.items.map(async (item) => {
      const light = await connect(args.url, item.token, item.chatId);
      const { err } = await ask(light, "chat:join", { chat_id: item.chatId });
      if (err !== null) throw new Error(`chat:join refused: ${err}`);
      sockets.push(light);
    }),
  );
  return sockets.length;
}

/** What `paced` answers: the stored-message generator's result (a type only: importing that file would run it). */
export type PacedResult = RunResult;

/**
 * Every open socket sends `perSocket` events, the n-th not before start + (n + w / sockets) × `paceMs`
 * (the sockets staggered across the interval), the next only once the last was answered and not
 * before `minGapMs` after that answer: the gateway handled the last event before it answered, so
 * it sees the socket's events at least `minGapMs` apart however late either side ran (typing
 * refuses a second one within 2 s).
 * `chat:typing` sends `{chat_id}`; `chat:read` sends `{chat_id, message_id}` with the socket's chat's
 * `readIds[chat][from + n]` (increasing ids: every read moves the reader's position).
 */
async function paced(args: { event: "chat:typing" | "chat:read"; perSocket: number; paceMs: number; minGapMs?: number; readIds?: Record<string, string[]>; from?: number }): Promise<PacedResult> {
  const start = performance.now();
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let done = 0;
  let failed = 0;
  await Promise.all(
    sockets.map(async (s, w) => {
      let answered = -Infinity;
      for (let n = 0; n < args.perSocket; n += 1) {
        const wait = Math.max(start + (n + w / sockets.length) * args.paceMs, answered + (args.minGapMs ?? 0)) - performance.now();
        if (wait > 0) await sleep(wait);
        const payload = args.event === "chat:read" ? { chat_id: s.chatId, message_id: args.readIds![s.chatId]![(args.from ?? 0) + n]! } : { chat_id: s.chatId };
        const t = performance.now();
        const { err } = await ask(s, args.event, payload);
        answered = performance.now();
        if (err === null) {
          done += 1;
          latencies.push(performance.now() - t);
        } else {
          failed += 1;
          errors[err] = (errors[err] ?? 0) + 1;
        }
      }
    }),
  );
  return { done, failed, errors, seconds: (performance.now() - start) / 1000, latency: summary(latencies) };
}

/**
 * A catch-up client (`name`: one per gateway): connects (a fresh socket with `fresh`, so that its
 * event budget starts full) and joins `chatId` plainly; returns the answer's cursor ("now").
 */
async function catcherJoin(args: { name: string; url: string; token: string; chatId: string; fresh?: boolean }): Promise<string> {
  let light = catchers.get(args.name);
  if (light && args.fresh) {
    light.raw.destroy();
    light = undefined;
  }
  if (!light) catchers.set(args.name, (light = await connect(args.url, args.token, args.chatId)));
  const { text, err } = await ask(light, "chat:join", { chat_id: args.chatId });
  if (err !== null || text === null) throw new Error(`chat:join refused: ${err}`);
  return (JSON.parse(text) as [{ cursor: string }])[0].cursor;
}

export interface CatchUpRun {
  ms: number;
  pages: number;
  missed: number;
  changes: number;
  byType: Record<string, number>;
  /** Distinct changes (type and message, or reader): the same change twice across pages would show here. */
  distinct: number;
  /** Bytes of the answers' JSON texts. */
  bytes: number;
  pageMs: number[];
  pageChanges: number[];
  /** Asks answered `rate_limited` (and asked again after `retryMs`). */
  refused: number;
  error: string | null;
}

/**
 * Joins with `cursor`, then again with each answer's cursor while `has_more`: the time from the first
 * ask to the last answer. With `retryMs`, a `rate_limited` answer is asked again that much later (as a
 * client backing off would), else it ends the run.
 */
async function catchUp(args: { name: string; chatId: string; cursor: string; maxPages?: number; retryMs?: number }): Promise<CatchUpRun> {
  const light = catchers.get(args.name);
  if (!light) throw new Error("catchUp: catcherJoin first");
  let refused = 0;
  const byType: Record<string, number> = {};
  const seen = new Set<string>();
  const pageMs: number[] = [];
  const pageChanges: number[] = [];
  let [missed, changes, bytes, cursor, error] = [0, 0, 0, args.cursor, null as string | null];
  const t0 = performance.now();
  for (let more = true; more && pageMs.length < (args.maxPages ?? 50); ) {
    const t = performance.now();
    const { text, err } = await ask(light, "chat:join", { chat_id: args.chatId, cursor }, 30_000);
    if (err === "rate_limited" && args.retryMs !== undefined && refused < 200) {
      refused += 1;
      await sleep(args.retryMs);
      continue;
    }
    pageMs.push(performance.now() - t);
    if (err !== null || text === null) {
      error = err;
      break;
    }
    bytes += text.length;
    const [answer] = JSON.parse(text) as [{ missed: unknown[]; changes: { type: string; data: { message_id?: string; id?: string; user_id?: string } }[]; cursor: string; has_more: boolean }];
    missed += answer.missed.length;
    changes += answer.changes.length;
    pageChanges.push(answer.changes.length);
    for (const c of answer.changes) {
      byType[c.type] = (byType[c.type] ?? 0) + 1;
      seen.add(c.type === "message:read" ? `read ${c.data.user_id}` : `${c.type} ${c.data.message_id ?? c.data.id}`);
    }
    cursor = answer.cursor;
    more = answer.has_more;
  }
  return { ms: performance.now() - t0, pages: pageMs.length, missed, changes, byType, distinct: seen.size, bytes, pageMs, pageChanges, refused, error };
}

serve(
  {
    open,
    paced,
    catcherJoin,
    catchUp,
    cpu: () => process.cpuUsage(),
  },
  async () => {
    for (const s of sockets) s.raw.destroy();
    for (const c of catchers.values()) c.raw.destroy();
  },
);
process.send?.({ ready: true, info: { pid: process.pid } });

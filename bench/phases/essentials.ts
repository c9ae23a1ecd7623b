/**
 * `--only=essentials`: what the chat essentials (read positions, edits, reactions, the change log)
 * cost. Two gateways (gw-ess at the default limits, gw-ess-raised with the socket event budget
 * raised) and one api replica of the phase's own, each in its own process, on a redis-server of the
 * phase's own; light sockets in 2 generators (lib/essentials-proc.ts).
 * - read-cpu: the gateway's CPU per `chat:read` against per `chat:typing`: 200 users, one socket
 *   each, in 20 chats of 10; each socket sends one event per 2.1 s, a typing never within 2.05 s of
 *   its last answer (typing relays at most one per user and chat per 2 s: none is refused, and
 *   refusals would be counted and make the row invalid), the sockets staggered across the interval, 4 per
 *   socket per round (800 events); rounds alternate (typing first, then read first, …), the same
 *   sockets and count each way. Every read names a later message than the socket's
 *   last, so each moves the position: one `message:read` to the room per read, as each typing is one
 *   `typing` to the room. CPU of the gateway process over each round (its window closes 250 ms after
 *   the last acknowledgement, for both) divided by the events acknowledged.
 * - list-p50/list-p99: `GET /chats` of a user in 500 chats, each with 5 unread messages (of 20) and
 *   a reaction on its last, 200 sequential requests from the runner to the api; against the same
 *   call of a user in 1 chat of the same shape, in alternating blocks of 25.
 * - catch-up: a client that joined a chat of 200 members (and 800 messages) takes the cursor of that
 *   plain join; then 1,000 changes are written (400 edits of distinct messages, 400 reactions on 400
 *   other messages, 200 read moves by distinct members, interleaved; straight into PostgreSQL as the
 *   handlers write them: the message rows and one `chat_changes` row each), so that merging collapses
 *   none; the client joins with the old cursor and pages with `has_more` until done, on gw-ess-raised
 *   (median of 5): a page is charged event-budget points by the rows it returns, and the row is
 *   the server's time, not the budget's. Once more on gw-ess at the defaults, retrying a refused page
 *   after 250 ms (in the note).
 * With --profile: V8 profiles of the gateway over the last read and the last typing round, of the
 * api over the last block of 500-chat lists, of the gateway over the last catch-up
 * (bench/results/prof/essentials-{gw-read,gw-typing,api-list,gw-catch-up}.cpuprofile).
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { BenchContext, Phase } from "../lib/context";
import { cpuSnapshot, cpuText, type CpuUse, cpuUse, disturbed } from "../lib/cpu-account";
import type { CatchUpRun, PacedResult } from "../lib/essentials-proc";
import { type Child, sleep } from "../lib/ipc";
import { withOwnRedis } from "../lib/own-redis";
import { split } from "../lib/load";
import { seed } from "../lib/setup";
import { addCounts, medianRound as median, summary } from "../lib/stats";

export const ESSENTIALS = {
  read: {
    users: 200,
    chats: 20,
    generators: 2,
    /** Each socket's events this far apart: above typing's 2 s per user and chat… */
    paceMs: 2_100,
    /**
     * …and a typing never sooner than this after the last one's answer (answered in a few ms): the
     * generators and the gateway run late on a busy machine, and a typing within 2 s is refused. Not
     * for reads, answered at their flush up to a second later: the same schedule as typing.
     */
    minGapMs: 2_050,
    perSocket: 4,
    warmPerSocket: 1,
    /** Rounds each way (ABBA: typing, read | read, typing | typing, read). */
    rounds: 3,
    /** Messages per chat: the reads' increasing targets (one per read per user). */
    messagesPerChat: 40,
    settleMs: 250,
  },
  list: { chats: 500, messagesPerChat: 20, unread: 5, requests: 200, block: 25, warm: 20 },
  catchUp: { members: 200, messages: 800, edits: 400, reactions: 400, reads: 200, runs: 5, retryMs: 250 },
  /**
   * The catch-up row's gateway: a catch-up page holds and is charged points of the socket's event
   * budget by the rows it returns, so at the defaults (30 at once, 10 a second) paging at once may
   * be refused `rate_limited`: the row measures the server's time, and the defaults are measured
   * apart, once, in its note.
   */
  raisedBudget: { SOCKET_EVENT_BURST: "100000", SOCKET_EVENT_RATE: "100000" },
  text: "a stored message of about sixty characters, as a chat line is",
};

/** CPU-µs of a process so far (server-proc's and essentials-proc's `cpu`). */
async function cpuUs(c: Child): Promise<number> {
  const r = await c.call<{ cpu: { user: number; system: number } } | { user: number; system: number }>("cpu");
  const u = "cpu" in r ? r.cpu : r;
  return u.user + u.system;
}

/** With --profile: a V8 CPU profile of `child` over `work`, as `<name>.cpuprofile` in the profile directory. */
async function profiled<T>(ctx: BenchContext, child: Child, name: string, on: boolean, work: () => Promise<T>): Promise<T> {
  if (!ctx.profileDir || !on) return work();
  await child.call("profileStart");
  try {
    return await work();
  } finally {
    const { file, samples } = await child.call<{ file: string; samples: number }>("profileStop", { file: join(ctx.profileDir, `essentials-${name}.cpuprofile`) });
    ctx.log(`essentials: profile of ${child.name} (${samples} samples) in ${file}`);
  }
}

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** `count` messages from `senders[k]` in `chatIds[k]` each; returns every chat's message ids, ascending. */
async function seedChatMessages(url: string, chatIds: string[], senders: string[], count: number): Promise<Record<string, string[]>> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ id: string; chat_id: string }>(
      `insert into messages (chat_id, sender_id, text)
       select c.chat_id, c.sender_id, $4 || ' #' || i from generate_series(1, $3::int) i, unnest($1::uuid[], $2::uuid[]) c(chat_id, sender_id)
       order by i
       returning id::text as id, chat_id`,
      [chatIds, senders, count, ESSENTIALS.text],
    );
    const out: Record<string, string[]> = {};
    for (const r of rows) (out[r.chat_id] ??= []).push(r.id);
    for (const ids of Object.values(out)) ids.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    return out;
  });
}

interface Rig {
  ctx: BenchContext;
  /** The default event budget (30 points at once, 10 a second per socket): the read-cpu rounds, the default-budget catch-up. */
  gw: Child;
  /** The event budget raised (ESSENTIALS.raisedBudget): the catch-up row, which measures the server's time rather than the budget's. */
  gwRaised: Child;
  api: Child;
  generators: Child[];
}

export const essentialsPhase: Phase = {
  name: "essentials",
  needs: [],
  async run(ctx) {
    await withOwnRedis(ctx, async (env, spawn) => {
      const procFile = join(__dirname, "../lib/essentials-proc.ts");
      const [gw, gwRaised, api, ...generators] = await Promise.all([
        spawn("gw-ess", ctx.serverFile, { ...env, BENCH_MODE: "ours" }),
        spawn("gw-ess-raised", ctx.serverFile, { ...env, ...ESSENTIALS.raisedBudget, BENCH_MODE: "ours" }),
        spawn("api-ess", ctx.serverFile, { ...env, BENCH_MODE: "api" }),
        ...Array.from({ length: ESSENTIALS.read.generators }, (_, k) => spawn(`ess-sockets${k + 1}`, procFile, { BENCH_LOCAL_ADDRESS: `127.0.0.${k + 2}` })),
      ]);
      const rig: Rig = { ctx, gw: gw!, gwRaised: gwRaised!, api: api!, generators };
      await measureReadCpu(rig);
      await measureList(rig);
      await measureCatchUp(rig);
    });
  },
};

interface ReadRound {
  kind: "read" | "typing";
  events: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
  ackP50: number;
  ackP99: number;
  /** CPU per acknowledged event, µs: the gateway (over the round's window), PostgreSQL (all its processes). */
  gatewayUs: number;
  postgresUs: number;
  /** The gateway's CPU per event less its idle rate over the same window. */
  gatewayNetUs: number;
  commitsPerEvent: number;
  /** The gateway's write and read system calls per event (sockets, Redis, PostgreSQL). */
  writesPerEvent: number;
  readsPerEvent: number;
  cpu: CpuUse | null;
}

const syscalls = (c: Child) => c.call<{ reads: number; writes: number }>("syscalls");

async function measureReadCpu(rig: Rig): Promise<void> {
  const { ctx, gw, generators } = rig;
  const R = ESSENTIALS.read;
  const seeded = await seed(ctx.database.url, ctx.tokens, "ess_read_", R.users, R.chats);
  // The first R.chats users are members of chats 0..R.chats-1 (user i of chat i % chats): each chat's sender.
  const readIds = await seedChatMessages(ctx.database.url, seeded.chatIds, seeded.users.slice(0, R.chats).map((u) => u.userId), R.messagesPerChat);
  const items = seeded.users.map((u, i) => ({ token: u.token, chatId: seeded.chatOf(i)! }));
  const parts = split(items, generators.length);
  const opened = await Promise.all(generators.map((g, k) => g.call<number>("open", { url: gw.info.url, items: parts[k] }, 60_000)));
  ctx.log(`essentials: ${opened.reduce((a, b) => a + b, 0)} sockets joined ${R.chats} chats on gw-ess (${generators.length} generators), ${R.messagesPerChat} messages per chat`);

  // The gateway's idle CPU rate (timers, Redis and PostgreSQL keep-alives), to set beside the rounds'.
  await sleep(2_000);
  const i0 = [await cpuUs(gw), performance.now()] as const;
  await sleep(3_000);
  const idleUsPerMs = ((await cpuUs(gw)) - i0[0]) / (performance.now() - i0[1]);

  let readsSent = 0;
  const round = async (kind: "read" | "typing", perSocket: number, profile = false): Promise<ReadRound> => {
    // Keeps the same user's typing rounds more than 2 s apart whatever the order.
    await sleep(500);
    const from = readsSent;
    if (kind === "read") readsSent += perSocket;
    if (readsSent > R.messagesPerChat) throw new Error("essentials: more reads than seeded messages");
    return profiled(ctx, gw, `gw-${kind}`, profile, async () => {
      const [s0, c0, x0, m0, t0] = [await syscalls(gw), await cpuUs(gw), await ctx.commits(), cpuSnapshot(), performance.now()];
      const res = await Promise.all(
        generators.map((g) => g.call<PacedResult>("paced", { event: kind === "read" ? "chat:read" : "chat:typing", perSocket, paceMs: R.paceMs, minGapMs: kind === "typing" ? R.minGapMs : 0, readIds, from }, 120_000)),
      );
      await sleep(R.settleMs);
      const m1 = cpuSnapshot();
      const c1 = await cpuUs(gw);
      const s1 = await syscalls(gw);
      const ms = performance.now() - t0;
      await sleep(1_100);
      const x1 = await ctx.commits();
      const cpu = cpuUse(m0, m1);
      const events = res.reduce((a, r) => a + r.done, 0);
      const per = Math.max(1, events);
      return {
        kind,
        events,
        failed: res.reduce((a, r) => a + r.failed, 0),
        errors: res.reduce((into, r) => addCounts(into, r.errors), {} as Record<string, number>),
        seconds: Math.max(...res.map((r) => r.seconds)),
        ackP50: median(res.map((r) => r.latency.p50)),
        ackP99: Math.max(...res.map((r) => r.latency.p99)),
        gatewayUs: (c1 - c0) / per,
        gatewayNetUs: (c1 - c0 - idleUsPerMs * ms) / per,
        postgresUs: cpu ? (cpu.postgres * 1e6) / per : NaN,
        commitsPerEvent: (x1 - x0 - 1) / per,
        writesPerEvent: (s1.writes - s0.writes) / per,
        readsPerEvent: (s1.reads - s0.reads) / per,
        cpu,
      };
    });
  };
  const logged = (what: string, m: ReadRound) =>
    ctx.log(
      `essentials: ${m.kind} ${what}: ${m.events} acked in ${m.seconds.toFixed(1)} s, ${m.failed} refused ${JSON.stringify(m.errors)}, ack p50/p99 ${m.ackP50.toFixed(1)}/${m.ackP99.toFixed(1)} ms; ` +
        `CPU per event: gateway ${m.gatewayUs.toFixed(0)} µs (${m.gatewayNetUs.toFixed(0)} less idle), PostgreSQL ${m.postgresUs.toFixed(0)} µs; ${m.commitsPerEvent.toFixed(3)} commits, gateway system calls ${m.writesPerEvent.toFixed(1)} writes and ${m.readsPerEvent.toFixed(1)} reads each; ${cpuText(m.cpu)}${disturbed(m.cpu) ? " (disturbed)" : ""}`,
    );
  logged("warm-up", await round("typing", R.warmPerSocket));
  logged("warm-up", await round("read", R.warmPerSocket));
  const rounds: ReadRound[] = [];
  for (let r = 1; r <= R.rounds; r += 1) {
    for (const kind of r % 2 === 1 ? (["typing", "read"] as const) : (["read", "typing"] as const)) {
      const m = await round(kind, R.perSocket, r === R.rounds);
      rounds.push(m);
      logged(`round ${r}`, m);
    }
  }
  const of = (kind: "read" | "typing") => rounds.filter((x) => x.kind === kind);
  const summaryOf = (kind: "read" | "typing") => ({
    gatewayUs: median(of(kind).map((x) => x.gatewayUs)),
    gatewayNetUs: median(of(kind).map((x) => x.gatewayNetUs)),
    postgresUs: median(of(kind).map((x) => x.postgresUs)),
    commitsPerEvent: median(of(kind).map((x) => x.commitsPerEvent)),
    writesPerEvent: median(of(kind).map((x) => x.writesPerEvent)),
    readsPerEvent: median(of(kind).map((x) => x.readsPerEvent)),
    ackP50: median(of(kind).map((x) => x.ackP50)),
    ackP99: median(of(kind).map((x) => x.ackP99)),
    events: of(kind).reduce((a, x) => a + x.events, 0),
    failed: of(kind).reduce((a, x) => a + x.failed, 0),
    errors: of(kind).reduce((into, x) => addCounts(into, x.errors), {} as Record<string, number>),
  });
  const read = summaryOf("read");
  const typing = summaryOf("typing");
  const perRound = R.users * R.perSocket;
  const rate = (R.users * 1000) / R.paceMs;
  /** details.essentials.readCpu: `read` and `typing`, the median round of each figure; `idleUsPerSecond`: the gateway's idle CPU; `rounds`: every round. */
  const details = (ctx.details.essentials ??= {}) as Record<string, unknown>;
  details.readCpu = { read, typing, perRound, offeredPerSecond: rate, idleUsPerSecond: idleUsPerMs * 1000, rounds };
  ctx.row("essentials.read-cpu", {
    figure:
      `chat:read gateway CPU per acked event vs chat:typing (${R.users} sockets of as many users in ${R.chats} chats of ${R.users / R.chats}, ${perRound} events per round, ` +
      `each socket one per ${R.paceMs} ms (${rate.toFixed(0)}/s; a typing never within ${R.minGapMs} ms of its last answer), every read moving the reader's position; rounds alternating, median of ${R.rounds})`,
    ours: read.gatewayUs,
    baseline: typing.gatewayUs,
    unit: "µs",
    ratio: read.gatewayUs / typing.gatewayUs,
    // Typing refused (rate_limited) would mean the pace broke its interval: the comparison is off.
    valid: read.failed === 0 && typing.failed === 0,
    note:
      `${read.failed} reads and ${typing.failed} typings refused ${JSON.stringify({ ...read.errors, ...typing.errors })}; less the gateway's idle ${(idleUsPerMs * 1000).toFixed(0)} µs/s: ` +
      `${read.gatewayNetUs.toFixed(0)} vs ${typing.gatewayNetUs.toFixed(0)} µs; PostgreSQL CPU per event ${read.postgresUs.toFixed(0)} vs ${typing.postgresUs.toFixed(0)} µs (every postgres process: other databases' load included), ` +
      `commits per event ${read.commitsPerEvent.toFixed(3)} vs ${typing.commitsPerEvent.toFixed(3)} (reads coalesced into one statement a second); ` +
      `gateway system calls per event ${read.writesPerEvent.toFixed(1)} vs ${typing.writesPerEvent.toFixed(1)} writes, ${read.readsPerEvent.toFixed(1)} vs ${typing.readsPerEvent.toFixed(1)} reads; ` +
      `ack p50/p99 ${read.ackP50.toFixed(0)}/${read.ackP99.toFixed(0)} vs ${typing.ackP50.toFixed(1)}/${typing.ackP99.toFixed(1)} ms (a read is answered once its flush stored it); ` +
      `rounds: read ${of("read").map((x) => x.gatewayUs.toFixed(0)).join("/")}, typing ${of("typing").map((x) => x.gatewayUs.toFixed(0)).join("/")} µs`,
  });
}

interface ChatsBody {
  chats: { id: string; unread_count: number; last_message: { id: string } | null; read_message_id: string | null }[];
}

async function measureList(rig: Rig): Promise<void> {
  const { ctx, api } = rig;
  const L = ESSENTIALS.list;
  // The reader (in L.chats chats), the sender of every message, and the baseline reader (in 1 chat).
  const seeded = await seed(ctx.database.url, ctx.tokens, "ess_list_", 3);
  const [reader, sender, single] = seeded.users as [(typeof seeded.users)[0], (typeof seeded.users)[0], (typeof seeded.users)[0]];
  await withClient(ctx.database.url, async (client) => {
    for (const [user, count] of [[reader, L.chats], [single, 1]] as const) {
      await client.query(
        `with c as (
           insert into chats (name, created_by) select 'ess_list_chat' || i, $1 from generate_series(1, $3::int) i returning id
         ), m as (
           insert into chat_members (chat_id, user_id, role) select id, $1, 'owner' from c union all select id, $2, 'member' from c
         )
         insert into messages (chat_id, sender_id, text) select c.id, $2, $4 || ' #' || i from c, generate_series(1, $5::int) i`,
        [user.userId, sender.userId, count, ESSENTIALS.text, L.messagesPerChat],
      );
      // Read up to all but the last L.unread of each chat; a reaction of the reader on each chat's last message.
      await client.query(
        `update chat_members cm set read_id = x.pos
         from (select m.chat_id, (array_agg(m.id order by m.id desc))[$2::int + 1] as pos
               from messages m join chat_members me on me.chat_id = m.chat_id and me.user_id = $1 group by m.chat_id) x
         where cm.chat_id = x.chat_id and cm.user_id = $1`,
        [user.userId, L.unread],
      );
      await client.query(
        `insert into message_reactions (message_id, user_id, emoji)
         select max(m.id), $1, '👍' from messages m join chat_members me on me.chat_id = m.chat_id and me.user_id = $1 group by m.chat_id`,
        [user.userId],
      );
    }
    await client.query("analyze messages; analyze chat_members; analyze chats; analyze message_reactions");
  });
  const url = `${String(api.info.url)}/chats`;
  const get = async (token: string) => {
    const t = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { ms: performance.now() - t, status: res.status, text };
  };
  // Warm both (plans, pool connections, the token verification's caches).
  for (let i = 0; i < L.warm; i += 1) {
    await get(reader.token);
    await get(single.token);
  }
  const many: number[] = [];
  const one: number[] = [];
  let bad = 0;
  let lastMany = "";
  const m0 = cpuSnapshot();
  let apiMany = 0;
  let apiOne = 0;
  for (let b = 0; b < L.requests / L.block; b += 1) {
    for (const [token, into, isMany] of (b % 2 === 0 ? [[reader.token, many, true], [single.token, one, false]] : [[single.token, one, false], [reader.token, many, true]]) as [string, number[], boolean][]) {
      const last = isMany && b === L.requests / L.block - 1;
      const c0 = await cpuUs(api);
      await profiled(ctx, api, "api-list", last, async () => {
        for (let i = 0; i < L.block; i += 1) {
          const r = await get(token);
          if (r.status !== 200) bad += 1;
          into.push(r.ms);
          if (isMany) lastMany = r.text;
        }
      });
      const used = (await cpuUs(api)) - c0;
      if (isMany) apiMany += used;
      else apiOne += used;
    }
  }
  const cpu = cpuUse(m0, cpuSnapshot());
  const body = JSON.parse(lastMany) as ChatsBody;
  const shaped = body.chats.filter((c) => c.unread_count === L.unread && c.last_message !== null && c.read_message_id !== null).length;
  const s = summary(many);
  const base = summary(one);
  const details = (ctx.details.essentials ??= {}) as Record<string, unknown>;
  details.list = { many: s, one: base, chats: body.chats.length, shaped, bytes: lastMany.length, apiUsMany: apiMany / many.length, apiUsOne: apiOne / one.length, bad, cpu };
  ctx.log(
    `essentials: GET /chats: ${L.chats} chats p50/p99 ${s.p50.toFixed(1)}/${s.p99.toFixed(1)} ms (max ${s.max.toFixed(1)}), 1 chat ${base.p50.toFixed(1)}/${base.p99.toFixed(1)} ms; ` +
      `${body.chats.length} chats answered (${shaped} with ${L.unread} unread, a last message and a read position), ${lastMany.length} B; api CPU per request ${(apiMany / many.length).toFixed(0)} vs ${(apiOne / one.length).toFixed(0)} µs; ${bad} not 200; ${cpuText(cpu)}`,
  );
  const valid = bad === 0 && body.chats.length === L.chats && shaped === L.chats;
  const figure = (p: string) =>
    `GET /chats ${p}: a user in ${L.chats} chats, each with ${L.unread} unread of ${L.messagesPerChat} (unread_count, last_message, read_message_id in one statement), ` +
    `${L.requests} sequential requests to one api process; baseline: a user in 1 chat of the same shape (blocks of ${L.block} alternating)`;
  const note =
    `${body.chats.length} chats answered, ${shaped} with ${L.unread} unread, a last message and a read position; ${(lastMany.length / 1024).toFixed(0)} KiB; ` +
    `api CPU per request ${(apiMany / many.length).toFixed(0)} vs ${(apiOne / one.length).toFixed(0)} µs; ${bad} not 200; ${cpuText(cpu)}`;
  ctx.row("essentials.list-p50", { figure: figure("p50"), ours: s.p50, baseline: base.p50, unit: "ms", ratio: s.p50 / base.p50, valid, note: `p99 ${s.p99.toFixed(1)} vs ${base.p99.toFixed(1)} ms; ${note}` });
  ctx.row("essentials.list-p99", { figure: figure("p99"), ours: s.p99, baseline: base.p99, unit: "ms", ratio: s.p99 / base.p99, valid, note: `p50 ${s.p50.toFixed(1)} vs ${base.p50.toFixed(1)} ms, max ${s.max.toFixed(1)} ms; ${note}` });
}

async function measureCatchUp(rig: Rig): Promise<void> {
  const { ctx, gw, generators } = rig;
  const C = ESSENTIALS.catchUp;
  const total = C.edits + C.reactions + C.reads;
  const seeded = await seed(ctx.database.url, ctx.tokens, "ess_cu_", C.members, 1);
  const chatId = seeded.chatIds[0]!;
  const members = seeded.users.map((u) => u.userId);
  // C.messages messages, from the members in turn, before the cursor.
  const ids = await withClient(ctx.database.url, async (client) => {
    const { rows } = await client.query<{ id: string }>(
      `insert into messages (chat_id, sender_id, text)
       select $1, ($2::uuid[])[((i - 1) % array_length($2::uuid[], 1)) + 1], $3 || ' #' || i from generate_series(1, $4::int) i order by i
       returning id::text as id`,
      [chatId, members, ESSENTIALS.text, C.messages],
    );
    return rows.map((r) => r.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  });
  const catcher = generators[0]!;
  // The cursor of a plain join before the changes (a position: good on any gateway).
  const cursor = await catcher.call<string>("catcherJoin", { name: "raised", url: rig.gwRaised.info.url, token: seeded.users[0]!.token, chatId });
  // The changes, interleaved (edit, edit, reaction, reaction, read, …), each on its own message or reader.
  const edited = ids.slice(0, C.edits);
  const reacted = ids.slice(C.edits, C.edits + C.reactions);
  const senderOf = (k: number) => members[k % members.length]!;
  const changes: { type: string; messageId: string; userId: string }[] = [];
  for (let k = 0, e = 0, r = 0, d = 0; k < total; k += 1) {
    const slot = k % 5;
    if (slot < 2 && e < edited.length) {
      // The edit's author is the message's sender (message i was sent by member i % members).
      changes.push({ type: "message:updated", messageId: edited[e]!, userId: senderOf(e) });
      e += 1;
    } else if (slot < 4 && r < reacted.length) {
      changes.push({ type: "message:reactions", messageId: reacted[r]!, userId: members[(r * 7) % members.length]! });
      r += 1;
    } else {
      // Member d reads up to a message of its own further on (distinct readers: none merged).
      changes.push({ type: "message:read", messageId: ids[Math.min(ids.length - 1, C.edits + d * 2)]!, userId: members[d]! });
      d += 1;
    }
  }
  await withClient(ctx.database.url, async (client) => {
    await client.query("begin");
    await client.query(`update messages set text = $2 || ' (edited)', edited_at = now() where id = any($1::bigint[])`, [edited, ESSENTIALS.text]);
    const reactions = changes.filter((c) => c.type === "message:reactions");
    await client.query(`insert into message_reactions (message_id, user_id, emoji) select r.m, r.u, '👍' from unnest($1::bigint[], $2::uuid[]) r(m, u)`, [reactions.map((c) => c.messageId), reactions.map((c) => c.userId)]);
    const reads = changes.filter((c) => c.type === "message:read");
    await client.query(`update chat_members cm set read_id = r.pos from unnest($1::uuid[], $2::bigint[]) r(user_id, pos) where cm.chat_id = $3 and cm.user_id = r.user_id`, [
      reads.map((c) => c.userId),
      reads.map((c) => c.messageId),
      chatId,
    ]);
    await client.query(
      `insert into chat_changes (chat_id, type, message_id, user_id)
       select $1, c.type, c.message_id, c.user_id from unnest($2::text[], $3::bigint[], $4::uuid[]) with ordinality c(type, message_id, user_id, k) order by c.k`,
      [chatId, changes.map((c) => c.type), changes.map((c) => c.messageId), changes.map((c) => c.userId)],
    );
    await client.query("commit");
    await client.query("analyze chat_changes; analyze message_reactions; analyze messages");
  });
  const runOnce = async (name: string, gateway: Child, retryMs?: number) => {
    const c0 = await cpuUs(gateway);
    const run = await catcher.call<CatchUpRun>("catchUp", { name, chatId, cursor, ...(retryMs === undefined ? {} : { retryMs }) });
    return { run, gatewayUs: (await cpuUs(gateway)) - c0 };
  };
  const describe = (run: CatchUpRun) =>
    `${run.ms.toFixed(0)} ms, ${run.pages} pages (${run.pageMs.map((x) => x.toFixed(0)).join("+")} ms; ${run.pageChanges.join("+")} changes), ` +
    `${run.changes} changes (${run.distinct} distinct) ${JSON.stringify(run.byType)}, ${run.missed} messages, ${(run.bytes / 1024).toFixed(0)} KiB` +
    `${run.refused ? `, ${run.refused} asks refused rate_limited` : ""}${run.error ? `; error ${run.error}` : ""}`;
  // On the raised budget: one warm-up catch-up, then the measured ones.
  await runOnce("raised", rig.gwRaised);
  const runs: CatchUpRun[] = [];
  const gwUs: number[] = [];
  for (let i = 0; i < C.runs; i += 1) {
    const { run, gatewayUs } = await profiled(ctx, rig.gwRaised, "gw-catch-up", i === C.runs - 1, () => runOnce("raised", rig.gwRaised));
    runs.push(run);
    gwUs.push(gatewayUs);
    ctx.log(`essentials: catch-up ${i + 1}: ${describe(run)}; gateway CPU ${(gatewayUs / 1000).toFixed(0)} ms`);
  }
  // At the default event budget, once, on a fresh socket (its bucket full), retrying a refused page after C.retryMs.
  await catcher.call<string>("catcherJoin", { name: "default", url: gw.info.url, token: seeded.users[0]!.token, chatId, fresh: true });
  const atDefault = (await runOnce("default", gw, C.retryMs)).run;
  ctx.log(`essentials: catch-up at the default event budget (retry after ${C.retryMs} ms when refused): ${describe(atDefault)}`);
  const ms = median(runs.map((r) => r.ms));
  const mid = runs.find((r) => r.ms === ms)!;
  const complete = runs.every((r) => r.error === null && r.changes === total && r.distinct === total && r.missed === 0);
  const details = (ctx.details.essentials ??= {}) as Record<string, unknown>;
  details.catchUp = { changes: total, runs, gatewayUs: gwUs, atDefaultBudget: atDefault };
  ctx.row("essentials.catch-up", {
    figure:
      `catch-up on ${total} changes (${C.edits} edits, ${C.reactions} reactions, ${C.reads} read moves, interleaved, none merged) in a chat of ${C.members} members: ` +
      `chat:join {cursor} paged with has_more until done, first ask → last answer, event budget raised, median of ${C.runs}`,
    ours: ms,
    baseline: null,
    unit: "ms",
    ratio: null,
    valid: complete,
    note:
      `${mid.pages} pages (${mid.pageMs.map((x) => x.toFixed(0)).join(" + ")} ms; ${mid.pageChanges.join(" + ")} changes), ${(mid.bytes / 1024).toFixed(0)} KiB in all; ` +
      `runs ${runs.map((r) => r.ms.toFixed(0)).join("/")} ms; every run ${complete ? "complete" : "INCOMPLETE"} (${runs.map((r) => `${r.changes}/${r.distinct}`).join(", ")} changes/distinct); ` +
      `gateway CPU per catch-up ${(median(gwUs) / 1000).toFixed(0)} ms; at the default event budget (30 at once, 10/s; a page is charged by the rows it returns) ` +
      `${atDefault.ms.toFixed(0)} ms, ${atDefault.refused} asks refused rate_limited (retried after ${C.retryMs} ms)${atDefault.error ? `, ended by ${atDefault.error}` : ""}`,
  });
}

/**
 * `--only=soak` (`--rounds=N` for a shorter one): rounds of connect → chat:join → one message:send
 * → disconnect on gw1, every generator at once; users rotate (one send per user every 5 rounds).
 * After the first round, after the round in which the last user connected for the first time, and
 * after the last round (every socket gone, GC first): memory and `gateway.stats()`. Heap must not
 * grow from the second snapshot to the last (by then the bounded caches are full: verified tokens,
 * up to 10,000, one per user; replay ids, up to 5,000; the first snapshot has 2,000 and 2,000 and
 * the caches alone then account for ~6 MiB of growth), per-socket state must be back to zero.
 */
import type { Phase } from "../lib/context";
import { type Child, sleep } from "../lib/ipc";
import { split } from "../lib/load";
import { mem, MiB, serverCpuUs } from "../lib/probes";
import { seed } from "../lib/setup";
import { addCounts } from "../lib/stats";

const SOAK = { perRound: 2_000, users: 10_000, chats: 8, concurrency: 25, maxMs: 8 * 60_000 };

interface CyclesResult {
  ok: number;
  sent: number;
  refused: Record<string, number>;
  failed: Record<string, number>;
  started: number;
  ended: number;
}

/**
 * Memory and gateway.stats() once every socket is closed and every presence grace they left has
 * ended (10 s; its leave sent): measured while graces still ended, the heap swung by ±25 % with the
 * Redis scripts in flight (0.88x and 1.26x in two runs with the same counters and RSS).
 */
async function settledSnapshot(gw: Child) {
  for (let i = 0; i < 100 && (await gw.call<number>("sockets")) > 0; i += 1) await sleep(100);
  for (let i = 0; i < 150 && ((await gw.call<Record<string, number>>("stats")).presenceGraces ?? 0) > 0; i += 1) await sleep(100);
  await sleep(500);
  const m = await mem(gw);
  const stats = await gw.call<Record<string, number>>("stats");
  return { mem: m, stats };
}
type Snapshot = Awaited<ReturnType<typeof settledSnapshot>>;

export const soakPhase: Phase = {
  name: "soak",
  needs: ["gw1", "clients"],
  alone: ["gw1"],
  async run({ server, clients, database, tokens, options, details, log, row }) {
    const gw = server("gw1");
    const S = { rounds: options.rounds, ...SOAK };
    const seeded = await seed(database.url, tokens, "soak_", S.users, S.chats);
    const items = seeded.users.map((u, i) => ({ token: u.token, chat: seeded.chatOf(i)! }));
    const url = gw.info.url as string;
    const started = Date.now();
    const rounds: { ok: number; sent: number; rate: number; cpuUs: number; refused: Record<string, number>; failed: Record<string, number> }[] = [];
    let first: Snapshot | undefined;
    let warm: Snapshot | undefined;
    let last: Snapshot | undefined;
    // The round after which every user has connected once (5 of the default 50).
    const warmRound = Math.ceil(S.users / S.perRound) - 1;
    const refused: Record<string, number> = {};
    const failed: Record<string, number> = {};
    log(`soak: ${S.rounds} rounds of ${S.perRound} cycles on gw1, ${clients.length} generators × ${S.concurrency} at a time, ${S.users} users in ${S.chats} chats`);
    for (let r = 0; r < S.rounds; r += 1) {
      if (Date.now() - started > S.maxMs) {
        log(`soak: stopping after ${r} rounds (${S.maxMs / 1000} s cap)`);
        break;
      }
      const from = (r * S.perRound) % items.length;
      const slice = Array.from({ length: S.perRound }, (_, i) => items[(from + i) % items.length]!);
      const parts = split(slice, clients.length);
      const cpuBefore = await serverCpuUs(gw);
      const res = await Promise.all(clients.map((c, k) => c.call<CyclesResult>("cycles", { url, items: parts[k], concurrency: S.concurrency, tag: `s${r}g${k}` }, 180_000)));
      const ok = res.reduce((a, x) => a + x.ok, 0);
      const sent = res.reduce((a, x) => a + x.sent, 0);
      const cpuUs = ((await serverCpuUs(gw)) - cpuBefore) / Math.max(1, ok);
      const seconds = (Math.max(...res.map((x) => x.ended)) - Math.min(...res.map((x) => x.started))) / 1000;
      const rRefused: Record<string, number> = {};
      const rFailed: Record<string, number> = {};
      for (const x of res) {
        addCounts(rRefused, x.refused);
        addCounts(rFailed, x.failed);
      }
      addCounts(refused, rRefused);
      addCounts(failed, rFailed);
      rounds.push({ ok, sent, rate: ok / seconds, cpuUs, refused: rRefused, failed: rFailed });
      let extra = "";
      if (r === 0 || (r === warmRound && r < S.rounds - 1) || r === S.rounds - 1) {
        const snap = await settledSnapshot(gw);
        if (r === 0) first = snap;
        else if (r === warmRound && r < S.rounds - 1) warm = snap;
        else last = snap;
        extra = `; heap ${MiB(snap.mem.heapUsed)}, rss ${MiB(snap.mem.rss)}, stats ${JSON.stringify(snap.stats)}`;
      }
      log(
        `soak: round ${r + 1}/${S.rounds}: ${ok}/${S.perRound} cycles in ${seconds.toFixed(1)} s (${(ok / seconds).toFixed(0)}/s, gw1 ${cpuUs.toFixed(0)} µs CPU each), ${sent} sent` +
          `${Object.keys(rRefused).length ? `, refused ${JSON.stringify(rRefused)}` : ""}${Object.keys(rFailed).length ? `, failed ${JSON.stringify(rFailed)}` : ""}${extra}`,
      );
    }
    if (!last && rounds.length > 1) last = await settledSnapshot(gw);
    const total = rounds.reduce((a, x) => a + x.ok, 0);
    const wall = (Date.now() - started) / 1000;
    details.soak = { ...S, wallSeconds: wall, cycles: total, refused, failed, first, warm, last, rounds };
    log(`soak: ${total} cycles in ${wall.toFixed(0)} s; refused ${JSON.stringify(refused)}, failed ${JSON.stringify(failed)}`);
    if (!first || !last) throw new Error(`soak: fewer than two rounds measured (${rounds.length})`);
    const perSocket = ["sockets", "rooms", "expiryEntries"].filter((k) => k in last.stats);
    const leftover = perSocket.filter((k) => last.stats[k] !== 0);
    const base = warm ?? first;
    const baseRound = warm ? warmRound + 1 : 1;
    row("soak.heap", {
      figure: `heap after ${rounds.length} rounds of ${S.perRound} connect/chat/disconnect vs after round ${baseRound}${warm ? " (every user connected once: the bounded caches full)" : ""}`,
      ours: last.mem.heapUsed / 2 ** 20,
      baseline: base.mem.heapUsed / 2 ** 20,
      unit: "MiB",
      ratio: last.mem.heapUsed / base.mem.heapUsed,
      valid: leftover.length === 0,
      note:
        `gateway.stats() after the last round ${JSON.stringify(last.stats)}, after round ${baseRound} ${JSON.stringify(base.stats)}; ` +
        `${warm ? `after the first round: heap ${MiB(first.mem.heapUsed)}, stats ${JSON.stringify(first.stats)}; ` : ""}` +
        `rss ${MiB(last.mem.rss)} vs ${MiB(base.mem.rss)}; ${total}/${rounds.length * S.perRound} cycles, ` +
        `${Object.values(refused).reduce((a, b) => a + b, 0)} sends refused${Object.keys(refused).length ? ` ${JSON.stringify(refused)}` : ""}, ` +
        `${Object.values(failed).reduce((a, b) => a + b, 0)} cycles failed${leftover.length ? `; not back to 0: ${leftover.join(", ")}` : ""}; ${wall.toFixed(0)} s`,
    });
  },
};

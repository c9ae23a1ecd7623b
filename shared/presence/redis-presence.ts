import type { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../redis/clients";
import { ChatLists } from "./chat-lists";
import { type CountTelling, type DueClaim, GRACE_MS, type Leave, LEASE_MS, type PresenceList, type PresenceStore, type PresenceUser, type Sweep, type Transition } from "./presence";

/**
 * Presence in Redis, one server or a cluster. A chat's keys share the hash tag `{<chat id>}`, so
 * each transition is one script on one slot:
 * - `wsac:pr:{c}:n`   hash user → gateways that have it (0 while its leave waits out the grace);
 * - `wsac:pr:{c}:u`   hash user → name (for joins and lists);
 * - `wsac:pr:{c}:g:<gateway>`  set of the users this gateway has in the chat (what a sweep undoes);
 * - `wsac:pr:{c}:told` and `:tw`  a large chat's count announced last, and its window (`tellCount`).
 * Beside them: `wsac:pr:{gw:<gateway>}:chats` (the chats a gateway has users in, for its sweep; a
 * chat leaves it when the gateway's last user there does, see `ChatLists`),
 * `wsac:pr:gateways` (gateway → when it last renewed its lease) and `wsac:pr:pending` (swept
 * users waiting out their grace, "chat user" → when it ends; a user at 0 gateways is swept and pending). Gateways' clocks are assumed to agree
 * within a second (NTP): leases and graces are compared across them.
 */

const JOIN = `
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return {0, redis.call('HLEN', KEYS[1])} end
local before = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if before then return {0, redis.call('HLEN', KEYS[1])} end
return {1, redis.call('HLEN', KEYS[1])}`;

/**
 * {1, count, mine} when no gateway has the user any more (its entries go), else {0, count, mine};
 * mine: the users this gateway still has in the chat (at 0 the chat leaves its list).
 */
const LEAVE = `
if redis.call('SREM', KEYS[3], ARGV[1]) == 0 then return {0, redis.call('HLEN', KEYS[1]), redis.call('SCARD', KEYS[3])} end
local left = 0
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  left = 1
end
return {left, redis.call('HLEN', KEYS[1]), redis.call('SCARD', KEYS[3])}`;

/** Lua: a dead gateway's set of users in one chat undone from the chat's counts; `onGone` runs for each user no other gateway has. */
const dropChat = (countsKey: string, mineKey: string, onGone: string) => `
for _, user in ipairs(redis.call('SMEMBERS', ${mineKey})) do
  if redis.call('HINCRBY', ${countsKey}, user, -1) <= 0 then
    redis.call('HSET', ${countsKey}, user, 0)
    ${onGone}
  end
end
redis.call('DEL', ${mineKey})`;

/** A dead gateway's users in one chat: the ones no other gateway has. */
const DROP = `
local gone = {}
${dropChat("KEYS[1]", "KEYS[2]", "table.insert(gone, user)")}
return gone`;

/**
 * One Redis only (the keys span slots): a dead gateway's users in many chats at once, each one no
 * other gateway has made pending (ZADD) in the same step. KEYS: the pending set, then each chat's
 * counts and the gateway's set there; ARGV: when their grace ends, then the chat ids. Answers how
 * many became pending.
 */
const DROP_MANY = `
local n = 0
for j = 1, #ARGV - 1 do
  local chat = ARGV[j + 1]
  ${dropChat("KEYS[2 * j]", "KEYS[2 * j + 1]", "redis.call('ZADD', KEYS[1], ARGV[1], chat .. ' ' .. user); n = n + 1")}
end
return n`;

/**
 * Chats per DROP_MANY call: each runs about 10 µs a chat in Redis, so a call holds it for a few
 * milliseconds. One script per chat cost the sweeper about 30 µs of its own CPU each (ioredis'
 * command and reply): 12,000 chats took 0.4 s of CPU, and in a kill -9's storm, where a survivor
 * gets a small share of 2 cores, the sweep lasted over 20 s.
 */
const SCRIPT_BATCH = 250;

/** `run` for each SCRIPT_BATCH of `items` at once (one auto-pipelined write); their answers in order. */
function inBatches<T, R>(items: readonly T[], run: (batch: T[]) => Promise<R>): Promise<R[]> {
  const calls: Promise<R>[] = [];
  for (let i = 0; i < items.length; i += SCRIPT_BATCH) calls.push(run(items.slice(i, i + SCRIPT_BATCH)));
  return Promise.all(calls);
}

/** Lua: the leave of `user` in the chat of `countsKey`/`namesKey`, if still gone: the chat's count after it, else -1. */
const finishLeave = (countsKey: string, namesKey: string, user: string) => `
if redis.call('HGET', ${countsKey}, ${user}) ~= '0' then return -1 end
redis.call('HDEL', ${countsKey}, ${user})
redis.call('HDEL', ${namesKey}, ${user})
return redis.call('HLEN', ${countsKey})`;

/** The leave, if the user is still gone: the chat's count after it, else -1. */
const FINISH = finishLeave("KEYS[1]", "KEYS[2]", "ARGV[1]");

/**
 * A large chat's count, and whether the caller announces it: {1, count, 0} (told: recorded as the
 * last announced, the window starts), {0, count, 0} (the count announced last is this one) or
 * {0, count, ms} (announced within the window: ask again in ms).
 */
const TELL_COUNT = `
local count = redis.call('HLEN', KEYS[1])
if redis.call('GET', KEYS[2]) == tostring(count) then return {0, count, 0} end
local wait = redis.call('PTTL', KEYS[3])
if wait > 0 then return {0, count, wait} end
redis.call('SET', KEYS[2], count, 'PX', ARGV[2])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return {1, count, 0}`;

/**
 * Claims up to ARGV[2] pending leaves due by ARGV[1] (ms): read and removed in one step, so that
 * gateways asking at once each get leaves of their own.
 */
const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

/** How long the count announced last is remembered (a chat quiet for longer has it told again at its next change). */
const TOLD_TTL_MS = 3_600_000;

const counts = (chatId: string) => `wsac:pr:{${chatId}}:n`;
const names = (chatId: string) => `wsac:pr:{${chatId}}:u`;
const mine = (chatId: string, gateway: string) => `wsac:pr:{${chatId}}:g:${gateway}`;
const told = (chatId: string) => `wsac:pr:{${chatId}}:told`;
const tellWindow = (chatId: string) => `wsac:pr:{${chatId}}:tw`;
const chatsOf = (gateway: string) => `wsac:pr:{gw:${gateway}}:chats`;
const GATEWAYS = "wsac:pr:gateways";
const PENDING = "wsac:pr:pending";
const sweepLock = (gateway: string) => `wsac:pr:{gw:${gateway}}:sweeping`;
const probeOf = (gateway: string) => `wsac:pr:{gw:${gateway}}:alive`;

/**
 * One Redis only: CLAIM, then FINISH for each claimed user, in one step, so that a claimer stalled
 * in a storm holds no claimed leave for a round trip more (the claimed users' keys are named here,
 * not passed: a cluster, which needs them declared, claims and finishes in two steps). ARGV as
 * CLAIM's. Answers how many were claimed, then chat, user and count for each one still gone.
 */
const CLAIM_FINISH = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due == 0 then return {0} end
redis.call('ZREM', KEYS[1], unpack(due))
local function finish(countsKey, namesKey, user)
${finishLeave("countsKey", "namesKey", "user")}
end
local out = {#due}
for _, key in ipairs(due) do
  local at = string.find(key, ' ', 1, true)
  local chat, user = string.sub(key, 1, at - 1), string.sub(key, at + 1)
  local count = finish('${counts("' .. chat .. '")}', '${names("' .. chat .. '")}', user)
  if count >= 0 then
    out[#out + 1] = chat
    out[#out + 1] = user
    out[#out + 1] = count
  end
end
return out`;

/**
 * BLPOPs a live gateway keeps waiting on its probe list (`stayAlive`). Redis answers each one by
 * itself when a sweeper pushes a probe, and runs the next from the connection's buffer: a stalled
 * event loop still answers this many probes, one per sweep round (LEASE_MS / 2).
 */
const PROBES_HELD = 5;
/**
 * How long a gateway whose probes are answered may go without renewing before it is swept anyway
 * (a process that lives but is stuck). It is also how late a gateway whose machine vanished without
 * closing its connections (its held BLPOPs answer until they run out) is found dead: within the
 * contract's 15 s for its users' leaves.
 */
export const STALL_MAX_MS = LEASE_MS + PROBES_HELD * (LEASE_MS / 2);
/**
 * A dead gateway's chats read per SSCAN call; each page's scripts go out together (one
 * auto-pipelined write) while the next page is read (dropPage: on one Redis each script also adds
 * its users' pending leaves; on a cluster a ZADD per page does).
 * The sweeper is a survivor, often busy with the dead gateway's reconnecting clients: every round
 * trip waits for its event loop, so the sweep's length is its round trips in a row (docs/presence.md).
 * In a kill -9's storm at 250,000 on 2 cores each took about 2 s: pages of 2,000 chats read one
 * after another swept 12,000 chats in 23 s. So a page holds a whole gateway's chats as a rule; at most
 * SWEEP_PAGES_IN_FLIGHT pages' scripts are outstanding (bounded for a gateway with a huge list).
 */
const SWEEP_SCAN_COUNT = 10_000;
const SWEEP_PAGES_IN_FLIGHT = 4;

type Scripts = {
  wsacPresenceJoin(n: string, u: string, g: string, user: string, name: string): Promise<[number, number]>;
  wsacPresenceLeave(n: string, u: string, g: string, user: string): Promise<[number, number, number]>;
  wsacPresenceDrop(n: string, g: string): Promise<string[]>;
  wsacPresenceDropMany(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<number>;
  wsacPresenceFinish(n: string, u: string, user: string): Promise<number>;
  wsacPresenceTellCount(n: string, told: string, window: string, windowMs: number, toldTtlMs: number): Promise<[number, number, number]>;
  wsacPresenceClaim(pending: string, dueBy: number, max: number): Promise<string[]>;
  wsacPresenceClaimFinish(pending: string, dueBy: number, max: number): Promise<[number, ...(string | number)[]]>;
};


/** A field-value reply: a flat list (RESP2) or a list of pairs (RESP3). */
function pairsOf(reply: unknown[]): [string, string][] {
  if (reply.every((x) => Array.isArray(x))) return reply as [string, string][];
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), String(reply[i + 1])]);
  return pairs;
}

export class RedisPresence implements PresenceStore {
  private readonly redis: RedisClient & Scripts;
  /** The chats this process's gateways have users in (their lists in Redis, kept to those). */
  private readonly lists: ChatLists;
  /** Gateways whose lease a renewal wrote (from then on only renewals write it). */
  private readonly leased = new Set<string>();

  /** The sweep's page (SSCAN's COUNT) and how many pages' scripts it keeps outstanding. */
  private readonly sweepPage: { count: number; inFlight: number };

  constructor(redis: RedisClient, options: { sweepPage?: { count: number; inFlight: number } } = {}) {
    this.sweepPage = options.sweepPage ?? { count: SWEEP_SCAN_COUNT, inFlight: SWEEP_PAGES_IN_FLIGHT };
    const r = redis as RedisClient & Partial<Scripts>;
    if (typeof r.wsacPresenceJoin !== "function") {
      redis.defineCommand("wsacPresenceJoin", { numberOfKeys: 3, lua: JOIN });
      redis.defineCommand("wsacPresenceLeave", { numberOfKeys: 3, lua: LEAVE });
      redis.defineCommand("wsacPresenceDrop", { numberOfKeys: 2, lua: DROP });
      // Its number of keys varies, so it is given at each call.
      redis.defineCommand("wsacPresenceDropMany", { lua: DROP_MANY });
      redis.defineCommand("wsacPresenceFinish", { numberOfKeys: 2, lua: FINISH });
      redis.defineCommand("wsacPresenceTellCount", { numberOfKeys: 3, lua: TELL_COUNT });
      redis.defineCommand("wsacPresenceClaim", { numberOfKeys: 1, lua: CLAIM });
      redis.defineCommand("wsacPresenceClaimFinish", { numberOfKeys: 1, lua: CLAIM_FINISH });
    }
    this.redis = redis as RedisClient & Scripts;
    this.lists = new ChatLists({
      // Until a renewal of its lease succeeded, with the lease, so that a gateway that dies before
      // that is swept too; not after, so that a renewal that finds its lease missing knows the
      // gateway was swept.
      add: (gateway, chatId) =>
        Promise.all([this.redis.sadd(chatsOf(gateway), chatId), this.leased.has(gateway) ? undefined : this.redis.hset(GATEWAYS, gateway, Date.now())]),
      remove: (gateway, chatId) => this.redis.srem(chatsOf(gateway), chatId),
    });
  }

  localChats(): number {
    return this.lists.size;
  }

  async join(gateway: string, chatId: string, user: PresenceUser): Promise<Transition> {
    // The chat is on the gateway's list (for its sweep) before its script adds the user: a round
    // trip more for the first user of a chat on a gateway, none for the others.
    const [joined, count] = await this.lists.joining(gateway, chatId, () =>
      this.redis.wsacPresenceJoin(counts(chatId), names(chatId), mine(chatId, gateway), user.id, user.username),
    );
    return { joined: joined === 1, count };
  }

  async leave(gateway: string, chatId: string, userId: string): Promise<Leave> {
    const mark = this.lists.mark();
    const [left, count, mineLeft] = await this.redis.wsacPresenceLeave(counts(chatId), names(chatId), mine(chatId, gateway), userId);
    if (mineLeft === 0) await this.lists.emptied(gateway, chatId, mark);
    return { left: left === 1, count };
  }

  async dueLeaves(max: number): Promise<DueClaim> {
    // Claimed in one script: every survivor of a dead gateway asks each second, and when each read
    // the same first `max` and then raced to remove them one by one, the cluster worked through
    // `max` a round however many asked (a kill -9 at 250,000: 17,800 due, the last stayer's leave
    // 33 s after the kill; docs/presence.md).
    if (!this.redis.isCluster) {
      // One Redis: claimed and finished in the same script (one round trip in all).
      const [claimed, ...flat] = await this.redis.wsacPresenceClaimFinish(PENDING, Date.now(), max);
      const leaves: DueClaim["leaves"] = [];
      for (let i = 0; i + 2 < flat.length; i += 3) leaves.push({ chatId: String(flat[i]), userId: String(flat[i + 1]), count: Number(flat[i + 2]) });
      return { claimed, leaves };
    }
    const keys = await this.redis.wsacPresenceClaim(PENDING, Date.now(), max);
    const claimed = keys.map((key) => key.split(" ") as [string, string]);
    // A cluster: each chat's keys are in a slot of their own, so a script per claimed user, all at
    // once (auto-pipelined: a round trip per node, not one per user).
    const counted = await Promise.all(claimed.map(([chatId, userId]) => this.redis.wsacPresenceFinish(counts(chatId), names(chatId), userId)));
    const leaves = claimed.flatMap(([chatId, userId], k) => (counted[k]! >= 0 ? [{ chatId, userId, count: counted[k]! }] : []));
    return { claimed: keys.length, leaves };
  }

  async tellCount(chatId: string, windowMs: number): Promise<CountTelling> {
    const [tell, count, wait] = await this.redis.wsacPresenceTellCount(counts(chatId), told(chatId), tellWindow(chatId), windowMs, TOLD_TTL_MS);
    return { tell: tell === 1, count, retryInMs: wait };
  }

  async list(chatId: string, max: number): Promise<PresenceList> {
    // The count and the first page at once (one round trip for most chats). HSCAN reads about
    // COUNT entries a call: O(max), not O(count); a small hash comes whole in one call.
    const scan = (cursor: string) => this.redis.hscan(names(chatId), cursor, "COUNT", max);
    const [count, first] = await Promise.all([this.redis.hlen(counts(chatId)), scan("0")]);
    const users: PresenceUser[] = [];
    let [cursor, flat] = first;
    for (let calls = 1; ; calls += 1) {
      for (const [id, username] of pairsOf(flat)) if (users.length < max) users.push({ id, username });
      if (cursor === "0" || users.length >= max || calls >= 10) break;
      [cursor, flat] = await scan(cursor);
    }
    return { count, users };
  }

  async online(chatId: string, userIds: readonly string[]): Promise<Set<string>> {
    const online = new Set<string>();
    // A user is in the counts hash while a gateway has it, or its leave waits out the grace.
    for (let i = 0; i < userIds.length; i += 1_000) {
      const slice = userIds.slice(i, i + 1_000);
      const values = await this.redis.hmget(counts(chatId), ...slice);
      values.forEach((v, k) => v !== null && online.add(slice[k]!));
    }
    return online;
  }

  async renew(gateway: string): Promise<boolean> {
    // HSET answers 1 for a new field: the sweep removes a dead gateway's lease last, after its entries.
    const added = await this.redis.hset(GATEWAYS, gateway, Date.now());
    const first = !this.leased.has(gateway);
    this.leased.add(gateway);
    if (added === 0 || first) return true;
    // Swept: its chat list went with its entries, so each chat's next join lists it again.
    this.lists.forget(gateway);
    return false;
  }

  /**
   * Holds PROBES_HELD BLPOPs on `gateway`'s probe list on a connection of its own, for as long as
   * this process lives: Redis closes that connection the moment the process dies (kill -9 included),
   * while a stall of its event loop leaves them waiting. A sweeper tells the two apart by a probe
   * (sweep). Returns the stop (a clean stop closes the connection: the gateway lapses as if dead).
   */
  stayAlive(gateway: string): () => void {
    // Its own offline queue: BLPOPs wait for the connection, and are sent again after a reconnect.
    // Named for CLIENT LIST: `wsac-alive:<gateway>`.
    const own = { connectionName: `wsac-alive:${gateway}`, enableOfflineQueue: true, maxRetriesPerRequest: null };
    const conn: RedisClient = this.redis.isCluster
      ? (this.redis as Cluster).duplicate(undefined, { enableOfflineQueue: true, redisOptions: { ...(this.redis as Cluster).options.redisOptions, ...own } })
      : (this.redis as Redis).duplicate({ ...own, enableAutoPipelining: false });
    // An outage is logged by the gateway's command clients; this one only waits and reconnects.
    conn.on("error", () => undefined);
    let stopped = false;
    const hold = (): void => {
      if (stopped) return;
      conn.blpop(probeOf(gateway), 0).then(hold, () => {
        if (!stopped) setTimeout(hold, 1_000).unref();
      });
    };
    for (let i = 0; i < PROBES_HELD; i += 1) hold();
    return () => {
      stopped = true;
      conn.disconnect();
    };
  }

  /** One page of a dead gateway's chats: its users no other gateway has become pending leaves, due at `graceEnds`. Resolves to their number. */
  private async dropPage(gateway: string, chats: string[], graceEnds: number): Promise<number> {
    if (!this.redis.isCluster) {
      const answers = await inBatches(chats, (batch) => {
        const keys = [PENDING, ...batch.flatMap((chatId) => [counts(chatId), mine(chatId, gateway)])];
        return this.redis.wsacPresenceDropMany(keys.length, ...keys, graceEnds, ...batch);
      });
      return answers.reduce((a, n) => a + n, 0);
    }
    // A cluster: a chat's keys share its slot, the pending set is elsewhere.
    const gone = await Promise.all(chats.map((chatId) => this.redis.wsacPresenceDrop(counts(chatId), mine(chatId, gateway))));
    const pending = gone.flatMap((userIds, k) => userIds.flatMap((userId) => [graceEnds, `${chats[k]} ${userId}`]));
    if (pending.length > 0) await this.redis.zadd(PENDING, ...pending);
    return pending.length / 2;
  }

  /**
   * Whether a process holds BLPOPs on `gateway`'s probe list (stayAlive): one probe pushed, and gone
   * at once if so. In one write, not a transaction: Redis serves a blocked client after the command
   * that fed it, before the next.
   */
  private async answersProbe(gateway: string): Promise<boolean> {
    const key = probeOf(gateway);
    const replies = await this.redis.pipeline().del(key).lpush(key, "1").llen(key).exec();
    const [err, left] = replies?.[2] ?? [new Error("no reply"), null];
    if (err) throw err;
    return left === 0;
  }

  async sweep(): Promise<Sweep> {
    const now = Date.now();
    let reads: Sweep["pages"];
    const dead = Object.entries(await this.redis.hgetall(GATEWAYS)).filter(([, at]) => now - Number(at) > LEASE_MS);
    const swept: string[] = [];
    let users = 0;
    for (const [gateway] of dead) {
      if ((await this.redis.set(sweepLock(gateway), "1", "PX", 30_000, "NX")) !== "OK") continue;
      // Read again now: the list above may be seconds old (this sweeper busy with another gateway's
      // chats, or stalled itself), and a gateway that renewed since is alive: sweeping it would make
      // its users' leaves due while its sockets are connected.
      const at = await this.redis.hget(GATEWAYS, gateway);
      if (at === null || Date.now() - Number(at) <= LEASE_MS) {
        await this.redis.del(sweepLock(gateway));
        continue;
      }
      // Stalled, not dead: its process still holds its probes (a survivor working through a storm
      // on starved cores stalled 14 s). The next probe no sooner than a sweep round from now: each
      // uses up one of the BLPOPs it holds until its event loop turns again.
      if (Date.now() - Number(at) <= STALL_MAX_MS && (await this.answersProbe(gateway))) {
        await this.redis.pexpire(sweepLock(gateway), LEASE_MS / 2);
        continue;
      }
      await this.redis.del(probeOf(gateway));
      // Its sockets left when it was last heard of: the grace counts from then.
      const graceEnds = Number(at) + GRACE_MS;
      // Its chats a page at a time, each page dropped while the next is read: a page at a time, one
      // after another, a sweep of 12,000 chats by a survivor lagging in a kill -9's storm took 36
      // round trips in a row, and its last users' leaves went out 40 s after the kill instead of 10.
      // A chat SSCAN returns twice is dropped twice, the second time a no-op.
      const pages = new Set<Promise<void>>();
      let failure: { err: unknown } | undefined;
      let cursor = "0";
      reads ??= { read: 0, firstAskedMs: Date.now() - now, lastReadMs: 0 };
      do {
        const [next, chats] = await this.redis.sscan(chatsOf(gateway), cursor, "COUNT", this.sweepPage.count);
        cursor = next;
        reads.read += 1;
        reads.lastReadMs = Date.now() - now;
        const page: Promise<void> = this.dropPage(gateway, chats, graceEnds).then(
          (n) => void (users += n),
          (err: unknown) => void (failure ??= { err }),
        );
        pages.add(page);
        void page.then(() => pages.delete(page));
        if (pages.size >= this.sweepPage.inFlight) await Promise.race(pages);
      } while (cursor !== "0" && !failure);
      await Promise.all(pages);
      // The lock stays: another sweeper takes the gateway up again when it expires (a dropped chat is a no-op then).
      if (failure) throw failure.err;
      await this.redis.del(chatsOf(gateway));
      await this.redis.hdel(GATEWAYS, gateway);
      swept.push(gateway);
    }
    return { gateways: swept, users, ...(reads ? { pages: reads } : {}) };
  }
}

/**
 * PostgreSQL's own cost of the gateway's two batched statements (the message insert and the
 * session check), per statement and per row, by batch size and plan_cache_mode: the backend's CPU
 * read from /proc/<pg_backend_pid>/stat (so PostgreSQL must run on this machine, Linux, 100 Hz
 * ticks: keep each measure at thousands of statements), and the wall time per statement. It makes
 * its own database (480 users with a live session each, in 48 chats of 10), runs each mode's
 * measures in turn and repeats the modes alternately, then drops the database.
 *
 *   npx tsx bench/statement-cost.ts [--modes=auto,force_generic_plan,auto,force_generic_plan] [--sizes=1,10,50,200]
 *
 * The insert is `storeMessages` on a named statement, as the gateway runs it (session and
 * membership checked in it, every client_id new). The README's note on PostgreSQL's cost per
 * message (generic plans tried, and dropped) was measured with it.
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import { SessionCheck } from "../gateway/auth/session-check";
import { type NewMessage, storeMessages } from "../shared/db/messages";
import { generateKeyPairSync } from "node:crypto";
import { es256SigningKey } from "../shared/auth/keys";
import { TokenSigner } from "../shared/auth/tokens";
import { createBenchDatabase, seed } from "./lib/setup";

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const modes = arg("modes", "auto,force_generic_plan,auto,force_generic_plan").split(",");
const sizes = arg("sizes", "1,10,50,200").split(",").map(Number);
const USERS = 480;
const CHATS = 48;

/** The backend's user + system CPU in µs (clock ticks of 10 ms). */
function backendCpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function main(): Promise<void> {
  const bdb = await createBenchDatabase();
  try {
    const { users, chatOf } = await seed(bdb.url, new TokenSigner(es256SigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString()), 900), "costuser", USERS, CHATS);
    let k = 0;
    const next = () => {
      const i = k % USERS;
      k += 1;
      return { user: users[i]!, chatId: chatOf(i)! };
    };
    const messages = (n: number): NewMessage[] =>
      Array.from({ length: n }, () => {
        const { user, chatId } = next();
        return { chatId, senderId: user.userId, text: `cost ${k}`, clientId: `cost-${k}`, sessionId: user.sessionId };
      });

    for (const mode of modes) {
      const pool = new pg.Pool({ connectionString: bdb.url, max: 1, onConnect: async (c) => void (await c.query(`set plan_cache_mode = ${mode}`)) });
      const client = await pool.connect();
      const pid = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
      client.release();
      const check = new SessionCheck(pool, { minIntervalMs: 0 });
      const statements = {
        insert: async (n: number) => void (await storeMessages(bdb.db, messages(n), pool)),
        "session check": async (n: number) =>
          void (await Promise.all(
            Array.from({ length: n }, () => {
              const { user, chatId } = next();
              return check.check({ sid: user.sessionId, sub: user.userId }, chatId);
            }),
          )),
      };
      for (const [name, run] of Object.entries(statements)) {
        for (const size of sizes) {
          const rounds = Math.max(20, Math.floor(4_000 / size));
          for (let w = 0; w < 10; w++) await run(size);
          const cpu0 = backendCpuUs(pid);
          const t0 = performance.now();
          for (let r = 0; r < rounds; r++) await run(size);
          const wallUs = ((performance.now() - t0) * 1000) / rounds;
          const cpuUs = (backendCpuUs(pid) - cpu0) / rounds;
          console.log(`${mode.padEnd(18)} ${name.padEnd(13)} ${String(size).padStart(4)} rows: wall ${wallUs.toFixed(0).padStart(6)} µs, backend CPU ${cpuUs.toFixed(0).padStart(6)} µs per statement = ${(cpuUs / size).toFixed(0).padStart(4)} µs per row`);
        }
      }
      await pool.end();
    }
  } finally {
    await bdb.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

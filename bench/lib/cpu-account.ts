/**
 * Who used the machine's CPU during a measurement (Linux /proc): the whole machine (/proc/stat),
 * this bench (the runner and every process descended from it: servers, load generators,
 * redis-server), PostgreSQL (shared with whatever else uses it), and the rest (other processes on
 * the machine: a build or a test run elsewhere shows up there). A process's share is its own CPU
 * time and that of its children it has reaped (utime + stime + cutime + cstime), so servers stopped
 * between two snapshots stay counted, in the runner's (or the postmaster's) children time.
 *
 * Servers the bench starts that daemonize (the Redis Cluster's nodes) are not its descendants:
 * `adoptPids` counts them (and their descendants) as the bench's; once one is gone, the CPU it had
 * used when last seen stays counted.
 */
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

export interface CpuSnapshot {
  at: number;
  busy: number;
  ours: number;
  postgres: number;
}

export interface CpuUse {
  seconds: number;
  /** CPU-seconds (clock ticks at USER_HZ = 100). */
  machine: number;
  bench: number;
  postgres: number;
  others: number;
}

const HZ = 100;

/** Daemonized servers of the bench's own: pid → CPU ticks when last seen. */
const adopted = new Map<number, number>();

/** Counts these processes (daemons the bench started) as the bench's from now on. */
export function adoptPids(pids: readonly number[]): void {
  for (const pid of pids) if (!adopted.has(pid)) adopted.set(pid, 0);
}

/**
 * One /proc/<pid>/stat (or /proc/<pid>/task/<tid>/stat) file's fields of proc(5) that the bench reads:
 * the name, the parent, and the CPU ticks (1/100 s) in user space and the kernel, its own and its
 * waited-for children's. Throws if the process is gone.
 */
export function procStat(path: string): { comm: string; ppid: number; utime: number; stime: number; cutime: number; cstime: number } {
  const s = readFileSync(path, "utf8");
  const close = s.lastIndexOf(")");
  // fields 3.. of proc(5): state, ppid, …, utime (14), stime (15), cutime (16), cstime (17)
  const rest = s.slice(close + 2).split(" ");
  return { comm: s.slice(s.indexOf("(") + 1, close), ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]), cutime: Number(rest[13]), cstime: Number(rest[14]) };
}

export function cpuSnapshot(): CpuSnapshot | null {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: all but idle and iowait
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    const procs = new Map<number, { ppid: number; comm: string; ticks: number }>();
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const st = procStat(`/proc/${d}/stat`);
        procs.set(Number(d), { ppid: st.ppid, comm: st.comm, ticks: st.utime + st.stime + st.cutime + st.cstime });
      } catch {
        // gone meanwhile
      }
    }
    let ours = 0;
    let postgres = 0;
    for (const [pid, p] of procs) {
      let mine = false;
      let q: number | undefined = pid;
      for (let i = 0; i < 32 && q !== undefined && q > 1 && !mine; i += 1) {
        mine = q === process.pid || adopted.has(q);
        q = procs.get(q)?.ppid;
      }
      if (adopted.has(pid)) adopted.set(pid, p.ticks);
      if (mine) ours += p.ticks;
      else if (p.comm === "postgres" || p.comm === "postmaster") postgres += p.ticks;
    }
    // Adopted daemons that are gone: what they had used when last seen.
    for (const [pid, ticks] of adopted) if (!procs.has(pid)) ours += ticks;
    return { at: Date.now(), busy, ours, postgres };
  } catch {
    return null;
  }
}

export function cpuUse(a: CpuSnapshot | null, b: CpuSnapshot | null): CpuUse | null {
  if (!a || !b) return null;
  const machine = (b.busy - a.busy) / HZ;
  const bench = Math.max(0, b.ours - a.ours) / HZ;
  const postgres = Math.max(0, b.postgres - a.postgres) / HZ;
  return { seconds: (b.at - a.at) / 1000, machine, bench, postgres, others: Math.max(0, machine - bench - postgres) };
}

export const cpuText = (u: CpuUse | null) =>
  u === null
    ? "CPU use unknown"
    : `CPU-s over ${u.seconds.toFixed(1)} s: bench ${u.bench.toFixed(1)}, PostgreSQL ${u.postgres.toFixed(1)}, other processes ${u.others.toFixed(1)}`;

/** Other processes used more than a fifth of the machine meanwhile: the figure is suspect. */
export const disturbed = (u: CpuUse | null | undefined) => !!u && u.seconds > 0 && u.others / (u.seconds * cpus().length) > 0.2;

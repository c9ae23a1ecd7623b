/**
 * Reading a server from the outside: its memory and CPU (over the IPC channel, or /proc when its
 * event loop may be too busy to answer) and its Prometheus metrics.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Child } from "./ipc";

/** A server child's `mem` answer (after a GC). */
export interface Mem {
  rss: number;
  heapUsed: number;
  /** V8's committed heap (the used heap and the free room in its pages). */
  heapTotal: number;
  external: number;
  sockets: number;
  fds: number;
  cpu: { user: number; system: number };
  /** The full collections made before the read, and their time on the server's thread (ms). */
  collections?: number;
  gcMs?: number;
  /** V8's heap spaces' physical size (bytes) by name: new_space is the young generation, outside heapUsed's live objects. */
  spaces?: Record<string, number>;
}

export const mem = (server: Child) => server.call<Mem>("mem", undefined, 30_000);

/** A process's CPU time (user + system) in µs, from any answer that carries its `cpu`. */
export const cpuUsOf = (m: { cpu: Mem["cpu"] }) => m.cpu.user + m.cpu.system;

/** A server's own CPU time so far (µs). */
export const serverCpuUs = async (server: Child) => cpuUsOf(await server.call<{ cpu: Mem["cpu"] }>("cpu"));

export const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** A process's resident set and its peak since the last reset (VmRSS, VmHWM of /proc/<pid>/status), or null if it is gone. */
export function procMem(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return null;
  }
}

/** Resets VmHWM (Linux: "5" to clear_refs), so that it reads the peak of what follows alone. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** A server's /metrics text, or null (no answer within 10 s). */
export async function scrape(url: string): Promise<string | null> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

/** Every sample of metric `name` whose labels include `labels`: its label text and value. */
function samples(text: string | null, name: string, labels: Record<string, string>): { labels: string; value: number }[] {
  const out: { labels: string; value: number }[] = [];
  for (const line of (text ?? "").split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`))) continue;
    out.push({ labels: m[2] ?? "", value: Number(m[3]) });
  }
  return out;
}

/** The sum of a metric's samples whose labels include `labels`; 0 if it is declared without samples, null if absent. */
export function metricSum(text: string | null, name: string, labels: Record<string, string> = {}): number | null {
  if (text === null) return null;
  const found = samples(text, name, labels);
  if (!found.length && !new RegExp(`^# TYPE ${name} `, "m").test(text)) return null;
  return found.reduce((a, s) => a + s.value, 0);
}

/** A metric's samples (those whose labels include `labels`) summed by the value of label `by`. */
export function metricBy(text: string | null, name: string, labels: Record<string, string>, by: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples(text, name, labels)) {
    const key = new RegExp(`${by}="([^"]*)"`).exec(s.labels)?.[1] ?? "";
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** `after - before` per key, the unchanged keys left out. */
export const diffCounts = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));

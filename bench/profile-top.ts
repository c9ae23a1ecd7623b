/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by package, and the
 * inclusive time of the frames whose name matches a filter.
 *
 *   npx tsx bench/profile-top.ts bench/results/prof/CPU.….cpuprofile [top=30] [inclusive-filter-regex] [--per=N]
 *
 * Each line gives the share of all samples and of the busy ones (all but "(idle)"); with --per=N
 * also the CPU µs per unit (the busy share of the profile's duration over N units: the fan-out
 * profiles' deliveries), so that two profiles of the same load compare in absolute terms.
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

const args = process.argv.slice(2);
const [file, topArg, filter] = args.filter((a) => !a.startsWith("--"));
const per = Number(args.find((a) => a.startsWith("--per="))?.slice(6) ?? NaN);
if (!file) throw new Error("usage: profile-top.ts <file.cpuprofile> [top] [regex] [--per=N]");
const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
const top = Number(topArg ?? 30);
const total = profile.samples.length;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

const where = (url: string) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.startsWith("node:")) return url;
  if (!url) return "(native/vm)";
  return url.replace(`file://${process.cwd()}/`, "").replace(/^file:\/\/\/work\/[^/]+\//, "");
};

const selfFn = new Map<string, number>();
const selfPkg = new Map<string, number>();
for (const n of profile.nodes) {
  const key = `${n.callFrame.functionName || "(anonymous)"}  ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  selfFn.set(key, (selfFn.get(key) ?? 0) + n.hitCount);
  const pkg = n.callFrame.functionName === "(idle)" ? "(idle)" : where(n.callFrame.url).split("/").slice(0, 2).join("/");
  selfPkg.set(pkg, (selfPkg.get(pkg) ?? 0) + n.hitCount);
}
const idle = profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").reduce((a, n) => a + n.hitCount, 0);
const busy = Math.max(1, total - idle);
const seconds = (profile.endTime - profile.startTime) / 1e6;
const pct = (x: number) =>
  `${((x / total) * 100).toFixed(1).padStart(5)} %  ${((x / busy) * 100).toFixed(1).padStart(5)} % busy` +
  (Number.isFinite(per) ? `  ${(((x / total) * seconds * 1e6) / per).toFixed(2).padStart(7)} µs/unit` : "");
const print = (title: string, m: Map<string, number>, n: number) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(v)}  ${k}\n`);
};
process.stdout.write(
  `${file}: ${total} samples, ${seconds.toFixed(1)} s, busy ${((busy / total) * 100).toFixed(1)} %` +
    (Number.isFinite(per) ? ` = ${(((busy / total) * seconds * 1e6) / per).toFixed(2)} µs per unit (${per} units)` : "") +
    "\n",
);
print("self time by package / file", selfPkg, top);
print("self time by function", selfFn, top);

if (filter) {
  // Inclusive time: samples under any frame matching the filter (counted once per sample path).
  const re = new RegExp(filter);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map<string, number>();
  const counts = new Map<number, number>();
  for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  for (const [id, hits] of counts) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      const key = `${n.callFrame.functionName || "(anonymous)"}  ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      if (re.test(key) && !seen.has(key)) {
        seen.add(key);
        incl.set(key, (incl.get(key) ?? 0) + hits);
      }
    }
  }
  print(`inclusive time of frames matching /${filter}/`, incl, top);
}

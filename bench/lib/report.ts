/**
 * The report: every row judged against its target (bench/targets.ts), the markdown table, the
 * capacity model and who used the CPU, printed and written to bench/results/latest{-<phases>}.{md,json}.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { type RowId, TARGETS } from "../targets";
import { capacityModel } from "./capacity-model";
import { type CpuSnapshot, cpuSnapshot, cpuText, type CpuUse, cpuUse } from "./cpu-account";
import type { Figures, Row } from "./results";

export interface RunResults {
  rows: { id: RowId; figures: Figures }[];
  details: Record<string, unknown>;
  errors: string[];
}

/** A row as the table shows it: the phase's figures, the target's text, and met (null: no target). */
export function judge(id: RowId, f: Figures): Row {
  const t = TARGETS[id];
  const facts = f.facts ?? {};
  const target = t === null ? "—" : typeof t.text === "function" ? t.text(facts) : t.text;
  const met = t === null ? null : f.valid !== false && t.met({ ours: f.ours, baseline: f.baseline, ratio: f.ratio, facts });
  return { figure: f.figure, ours: f.ours, baseline: f.baseline, unit: f.unit, ratio: f.ratio, target, met, note: f.note };
}

const num = (x: number | null, unit: string) => {
  if (x === null || Number.isNaN(x)) return "—";
  const digits = unit === "/s" || unit === "µs" || unit === "" ? (Math.abs(x) < 10 && !Number.isInteger(x) ? 3 : 0) : Math.abs(x) < 10 ? 2 : 1;
  return `${x.toFixed(digits)}${unit && unit !== "/s" ? ` ${unit}` : unit}`;
};

export function report(results: RunResults, run: { dir: string; only: string[] | undefined; profile: boolean; t0: number; cpu0: CpuSnapshot | null }): void {
  const rows = results.rows.map((r) => judge(r.id, r.figures));
  const lines = [
    `| figure | ours | baseline | ratio | target | met? |`,
    `| --- | --- | --- | --- | --- | --- |`,
    ...rows.map(
      (r) =>
        `| ${r.figure}${r.note ? ` (${r.note})` : ""} | ${num(r.ours, r.unit)} | ${num(r.baseline, r.unit)} | ${r.ratio === null ? "—" : `${r.ratio.toFixed(2)}x`} | ${r.target} | ${r.met === null ? "—" : r.met ? "yes" : "**no**"} |`,
    ),
  ];
  const { details, errors } = results;
  const header = `ws-auth-cluster bench, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${((Date.now() - run.t0) / 1000).toFixed(0)} s`;
  const all = cpuUse(run.cpu0, cpuSnapshot());
  details.cpuAll = all;
  const shared = `${cpuText(all)} (${cpus().length} cores: ${all ? (cpus().length * all.seconds).toFixed(0) : "?"} CPU-s in all)`;
  const perPhase = Object.entries((details.cpu ?? {}) as Record<string, CpuUse | null>).map(([name, u]) => `- ${name}: ${cpuText(u)}`);
  const model = capacityModel(details);
  details.capacityModel = model.figures;
  const md = [
    header,
    "",
    shared,
    "",
    ...lines,
    "",
    ...model.lines,
    ...(perPhase.length ? ["", "CPU by phase (the machine may be shared; other processes' load skews latency figures):", ...perPhase] : []),
    ...(errors.length ? ["", "Errors:", ...errors.map((e) => `- ${e}`)] : []),
    "",
  ].join("\n");
  process.stdout.write(`\n${md}\n`);
  mkdirSync(run.dir, { recursive: true });
  const suffix = run.only || run.profile ? `-${(run.only ?? ["all"]).join("-")}${run.profile ? "-profile" : ""}` : "";
  writeFileSync(join(run.dir, `latest${suffix}.md`), md);
  writeFileSync(
    join(run.dir, `latest${suffix}.json`),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, seconds: (Date.now() - run.t0) / 1000, phases: run.only ?? "all", rows, details, errors }, null, 2),
  );
}

import { existsSync, readFileSync } from "node:fs";

/** A child's pino log (BENCH_LOG_DIR): lines per level and the distinct warnings and errors. */
export function logSummary(file: string): string {
  if (!existsSync(file)) return "no log";
  const levels: Record<string, number> = {};
  const msgs: Record<string, number> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as { level: number | string; msg?: string; err?: unknown };
      const lv = String(e.level);
      levels[lv] = (levels[lv] ?? 0) + 1;
      if (typeof e.level === "number" ? e.level >= 40 : !["info", "debug", "trace"].includes(lv)) {
        const k = `${lv} ${e.msg ?? ""}${e.err ? ` (${typeof e.err === "string" ? e.err : JSON.stringify(e.err).slice(0, 120)})` : ""}`;
        msgs[k] = (msgs[k] ?? 0) + 1;
      }
    } catch {
      levels.unparsed = (levels.unparsed ?? 0) + 1;
    }
  }
  return `${JSON.stringify(levels)}${Object.keys(msgs).length ? `; ${JSON.stringify(msgs)}` : ""}`;
}

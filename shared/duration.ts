const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Parses "900", "90s", "15m", "12h", "30d" or "2w" into whole seconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,9})\s*([smhdw]?)$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] || "s"] ?? 1);
  return seconds > 0 ? seconds : undefined;
}

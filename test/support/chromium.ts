import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";

/** Debian's Chromium (apt-get install chromium), driven by playwright-core; downloading a browser fails here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function ready(): boolean {
  try {
    require.resolve("playwright-core");
    return existsSync(CHROMIUM);
  } catch {
    return false;
  }
}

/** True when the browser tests can run; otherwise they skip and say why (`chromiumSkipReason`). */
export const chromiumReady = ready();
export const chromiumSkipReason = chromiumReady ? "" : ` (skipped: needs ${CHROMIUM} and the playwright-core dev dependency; apt-get install chromium)`;

/**
 * Headless Chromium as root on a machine with no internet: no sandbox, and none of its background
 * traffic (refused by the closed network, many connections at a time).
 */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"] });
}

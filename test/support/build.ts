import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { inject } from "vitest";

export const ROOT = resolve(__dirname, "../..");
const LOCK = join(ROOT, ".data", "build.lock");
const MARKER = join(ROOT, "dist", ".built-for-run");

/**
 * Compiles dist/ (what npm start, pm2 and the image run) once per test run, whichever end-to-end
 * file asks first; the others wait on a lock directory instead of compiling over it.
 */
export async function ensureBuilt(): Promise<void> {
  const runId = inject("runId");
  mkdirSync(join(ROOT, ".data"), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // A lock left by a run that was killed mid-build: a build never takes this long.
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) rmdirSync(LOCK);
      if (Date.now() > deadline) throw new Error(`build lock ${LOCK} held too long (remove it if no test runs)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    let built = "";
    try {
      built = readFileSync(MARKER, "utf8");
    } catch {
      built = "";
    }
    if (built === runId) return;
    await promisify(execFile)(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", ROOT], { cwd: ROOT });
    writeFileSync(MARKER, runId);
  } finally {
    rmdirSync(LOCK);
  }
}

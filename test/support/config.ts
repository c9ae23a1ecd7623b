import { type Config, loadConfig } from "../../shared/config";

export const TEST_SECRET = "test-secret-that-is-long-enough-0123456789";

/** A config as the entry points build it, from an environment given here (no .env, no process.env). */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    dotenv: false,
    env: {
      NODE_ENV: "test",
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: "silent",
      // OWASP's minimum argon2id cost keeps the suite quick; production defaults are higher.
      ARGON2_MEMORY_KIB: "19456",
      ARGON2_TIME_COST: "2",
      ARGON2_PARALLELISM: "1",
      // Every test registers from 127.0.0.1; the tests of this limit set their own.
      REGISTER_MAX_PER_IP: "100000",
      ...env,
    },
  });
}

import { generateKeyPairSync } from "node:crypto";
import { type Config, type ConfigRole, loadConfig } from "../../shared/config";
import { es256SigningKey } from "../../shared/auth/keys";
import { TokenSigner } from "../../shared/auth/tokens";

/** An HS256 secret, for the tests of deployments that still use JWT_SECRET. */
export const TEST_SECRET = "test-secret-that-is-long-enough-0123456789";

/** This test process's ES256 key pair: the api fixtures sign with it, the gateway fixtures hold only the public half. */
const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
export const TEST_PRIVATE_KEY = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
export const TEST_PUBLIC_KEY = pair.publicKey.export({ format: "pem", type: "spki" }).toString();

/** Access tokens as the test api signs them (to make expired or odd ones). */
export const testSigner = (ttlSeconds = 900) => new TokenSigner(es256SigningKey(TEST_PRIVATE_KEY), ttlSeconds);

/**
 * A config as the entry points build it, from an environment given here (no .env, no process.env).
 * A gateway's config holds the public key only, as in production.
 */
export function testConfig(env: Record<string, string> = {}, role: ConfigRole = "standalone"): Config {
  return loadConfig({
    dotenv: false,
    role,
    env: {
      NODE_ENV: "test",
      ...(role === "gateway" ? { JWT_PUBLIC_KEYS: TEST_PUBLIC_KEY } : { JWT_PRIVATE_KEY: TEST_PRIVATE_KEY }),
      LOG_LEVEL: "silent",
      // OWASP's minimum argon2id cost keeps the suite quick; production defaults are higher.
      ARGON2_MEMORY_KIB: "19456",
      ARGON2_TIME_COST: "2",
      ARGON2_PARALLELISM: "1",
      // Every test registers from 127.0.0.1; the tests of this limit set their own.
      REGISTER_MAX_PER_IP: "100000",
      // Test users make many chats and invites; the tests of these limits set their own.
      CHAT_CREATE_LIMIT_PER_USER: "100000",
      INVITE_LIMIT_PER_USER: "100000",
      ...env,
    },
  });
}

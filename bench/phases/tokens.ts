import { generateKeyPairSync, randomUUID } from "node:crypto";
import { es256SigningKey, hs256Key, KeyRing, type SigningKey } from "../../shared/auth/keys";
import { TokenSigner, TokenVerifier } from "../../shared/auth/tokens";
import type { Phase } from "../lib/context";
import { medianRound } from "../lib/stats";

/** Distinct tokens verified per algorithm and round (each a fresh string: the gateway's cache of verified tokens never hits). */
const TOKENS = 4_000;
const ROUNDS = 3;

/** This process's CPU time (user + system) in µs. */
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function verifyCost(key: SigningKey): Promise<number> {
  const signer = new TokenSigner(key, 900);
  const verifier = new TokenVerifier(new KeyRing([{ kid: key.kid, alg: key.alg, key: key.key }]));
  const later = new Date(Date.now() + 3_600_000);
  const tokens = Array.from({ length: TOKENS }, () => signer.sign(randomUUID(), randomUUID(), later).token);
  for (const t of tokens.slice(0, 500)) await verifier.verify(t); // warm-up
  const before = cpuUs();
  for (const t of tokens) await verifier.verify(t);
  return (cpuUs() - before) / TOKENS;
}

/**
 * `--only=tokens`: what one access-token verification costs the process that checks it (a
 * gateway's handshake with a token it has not seen, an `auth:refresh`, every protected HTTP
 * call), ES256 with the api's public key against HS256 with a shared secret, on fresh tokens
 * through the product's own verifier, in the runner's process. The median of three rounds.
 */
export const tokensPhase: Phase = {
  name: "tokens",
  needs: [],
  async run({ row, log }) {
    const es = es256SigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString());
    const hs = hs256Key(randomUUID() + randomUUID());
    const rounds: { es: number; hs: number }[] = [];
    for (let r = 0; r < ROUNDS; r += 1) {
      rounds.push({ es: await verifyCost(es), hs: await verifyCost(hs) });
      log(`tokens: round ${r + 1}: ES256 ${rounds[r]!.es.toFixed(1)} µs, HS256 ${rounds[r]!.hs.toFixed(1)} µs CPU per verification`);
    }
    const ours = medianRound(rounds.map((x) => x.es));
    const base = medianRound(rounds.map((x) => x.hs));
    row("tokens.verify", {
      figure: `access-token verification, CPU per fresh token: ES256 (gateways hold the public key only) vs HS256 (every process holds the secret) (${TOKENS} tokens, median of ${ROUNDS})`,
      ours,
      baseline: base,
      unit: "µs",
      ratio: ours / base,
      note: `rounds ES256 ${rounds.map((x) => x.es.toFixed(0)).join("/")}, HS256 ${rounds.map((x) => x.hs.toFixed(0)).join("/")} µs; a gateway verifies a token string once (reconnects with it hit its cache), so the handshake rows pay this only for new tokens`,
    });
  },
};

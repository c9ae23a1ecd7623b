import { Router } from "express";
import type { JwkSetView } from "../../shared/contract/views";
import { publicJwk, type TokenKey } from "../../shared/auth/keys";

/** How long clients of the JWKS may cache it (gateways refetch on their own schedule anyway). */
const MAX_AGE_SECONDS = 60;

/**
 * `GET /.well-known/jwks.json`: the public keys tokens are verified with, as a JWK Set (RFC
 * 7517): the api's signing key and any JWT_PUBLIC_KEYS (the previous key while its tokens live,
 * or the next one published ahead of a rotation). Secrets (HS256) are never published.
 */
export function jwksRoutes(keys: readonly TokenKey[]): Router {
  const set = { keys: keys.filter((k) => k.alg === "ES256").map(publicJwk) } as JwkSetView;
  const body = JSON.stringify(set);
  const router = Router();
  router.get("/.well-known/jwks.json", (_req, res) => {
    res.setHeader("Cache-Control", `public, max-age=${MAX_AGE_SECONDS}`);
    res.type("application/json").send(body);
  });
  return router;
}

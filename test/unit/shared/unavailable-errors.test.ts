import { describe, expect, it } from "vitest";
import { isUnavailableError } from "../../../shared/contract/errors";

/**
 * Which failures of PostgreSQL and Redis a caller answers 503 `unavailable` (ask again later)
 * rather than 500 `internal`. The integration tests bring each about for real where they can
 * (test/integration/gateway/join-failure.test.ts cancels a statement); here the whole list.
 */
describe("isUnavailableError", () => {
  it("takes a server going away, out of resources, a statement ended by time or an operator, and a retryable conflict", () => {
    const transient = ["57P01", "57P03", "57014", "55P03", "53200", "53300", "40001", "40P01", "08006"];
    for (const code of transient) expect(isUnavailableError(Object.assign(new Error("pg"), { code })), code).toBe(true);
    expect(isUnavailableError(new Error("Query read timeout"))).toBe(true);
    expect(isUnavailableError(Object.assign(new Error("connect"), { code: "ECONNREFUSED" }))).toBe(true);
  });

  it("leaves out what a retry would not mend: integrity, syntax, a missing table, a plain bug", () => {
    for (const code of ["23505", "23503", "42601", "42P01", "22P02"]) expect(isUnavailableError(Object.assign(new Error("pg"), { code })), code).toBe(false);
    expect(isUnavailableError(new TypeError("x is undefined"))).toBe(false);
    expect(isUnavailableError(undefined)).toBe(false);
  });
});

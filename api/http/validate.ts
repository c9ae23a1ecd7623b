import type { z } from "zod";
import { AppError } from "../../shared/contract/errors";
import { fieldIssues } from "../../shared/contract/validation";

/** Parses input with a zod schema or throws 400 `invalid_body` with the per-field `errors`. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, what = "body"): z.output<S> {
  const result = schema.safeParse(input ?? (what === "body" ? {} : input));
  if (result.success) return result.data;
  throw new AppError("invalid_body", 400, `The ${what} is invalid`, { errors: fieldIssues(result.error) });
}

import { AppError } from "../../shared/contract/errors";
import type { ServerAnswer } from "../../shared/contract/server";
import { checkWebhookUrl } from "../webhooks/delivery";
import * as endpoints from "../webhooks/endpoints";
import type { ServerDeps } from "./server.service";

export { listEndpoints } from "../webhooks/endpoints";

const noEndpoint = () => new AppError("not_found", 404, "No such webhook endpoint");

/** Registers an endpoint; a URL of the cluster's own network is refused (SSRF) unless WEBHOOK_ALLOW_PRIVATE=on. */
export async function createWebhook(deps: ServerDeps, body: { url: string; events: string[]; description?: string | undefined }): Promise<ServerAnswer<"webhookCreated">> {
  const problem = checkWebhookUrl(body.url, deps.allowPrivateWebhooks);
  if (problem) throw new AppError("invalid_body", 400, "The body is invalid", { errors: [{ field: "url", message: problem }] });
  return endpoints.createEndpoint(deps.db, body);
}

export async function deleteWebhook(deps: ServerDeps, id: string): Promise<void> {
  if (!(await endpoints.deleteEndpoint(deps.db, id))) throw noEndpoint();
}

export async function deliveries(deps: ServerDeps, id: string, query: { status?: "pending" | "delivered" | "dead" | undefined; limit: number }): Promise<ServerAnswer<"deliveries">["deliveries"]> {
  const list = await endpoints.listDeliveries(deps.db, id, query);
  if (!list) throw noEndpoint();
  return list;
}

export async function redeliverOne(deps: ServerDeps, id: string, deliveryId: string): Promise<ServerAnswer<"delivery">["delivery"]> {
  const delivery = await endpoints.redeliver(deps.db, id, deliveryId);
  if (!delivery) throw new AppError("not_found", 404, "No such delivery of this endpoint");
  return delivery;
}

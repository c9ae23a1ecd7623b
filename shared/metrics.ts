import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * A registry per service instance (not prom-client's global one), so several instances can live
 * in one process during tests. Process figures (CPU, memory, event loop lag, handles) included.
 */
export function createRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per server, never prom-client's global one: several nodes in one test process (or a
 * controller and a broker in one dev process) would otherwise collide on metric names.
 */
export interface HttpMetrics {
  readonly registry: Registry;
  /** Records one answered request. `route` is the route's pattern, undefined when no route matched. */
  observe(method: string, route: string | undefined, statusCode: number, elapsedMs: number): void;
}

const commonMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function createHttpMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'millrace_http_request_duration_seconds',
    help: 'Time from a request arriving to its answer being sent, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    // From a sub-millisecond local answer to a long poll that waits its full time.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    registry,
    observe(method, route, statusCode, elapsedMs) {
      // The label is the pattern (`/v1/topics/:topic`), never the URL, so the number of series stays
      // bounded by the number of routes whatever paths clients send.
      // The method is client-chosen too, so anything unusual shares one label.
      const methodLabel = commonMethods.has(method) ? method : 'other';
      duration.observe(
        { method: methodLabel, route: route ?? 'unmatched', status_code: String(statusCode) },
        elapsedMs / 1000,
      );
    },
  };
}

/** A gauge read when `/metrics` is scraped: `value()` is called then, never in between. */
export function collectedGauge(registry: Registry, name: string, help: string, value: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(value());
    },
  });
}

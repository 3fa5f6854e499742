import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Prometheus metrics of one coordinator, in its own registry (no global state), served at /metrics.
 * @example const m = createMetrics(); m.jobsSubmitted.inc();
 */
export function createMetrics() {
  const registry = new Registry();
  // Event-loop delay is sampled every 100 ms (prom-client's default, 10 ms, woke an idle
  // coordinator 100 times a second; the lag gauges are scraped far less often than that).
  collectDefaultMetrics({ register: registry, prefix: 'plexus_process_', eventLoopMonitoringPrecision: 100 });
  return {
    registry,
    jobsSubmitted: new Counter({
      name: 'plexus_jobs_submitted_total',
      help: 'Jobs accepted',
      registers: [registry],
    }),
    jobsFinished: new Counter({
      name: 'plexus_jobs_finished_total',
      help: 'Jobs that completed or failed',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    tasksFinished: new Counter({
      name: 'plexus_task_attempts_finished_total',
      help: 'Task attempts by outcome',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    assignments: new Counter({
      name: 'plexus_assignments_total',
      help: 'Tasks leased to providers',
      registers: [registry],
    }),
    leasesLost: new Counter({
      name: 'plexus_leases_lost_total',
      help: 'Leases another replica (or run) took first: the conditional update changed no row',
      registers: [registry],
    }),
    providersConnected: new Gauge({
      name: 'plexus_providers_connected',
      help: 'Providers online',
      registers: [registry],
    }),
    dispatchSeconds: new Histogram({
      name: 'plexus_dispatch_seconds',
      help: 'Time to lease one task to a provider (store transaction included)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    rejectedMessages: new Counter({
      name: 'plexus_rejected_messages_total',
      help: 'Requests and provider messages refused, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    epochsSettled: new Counter({
      name: 'plexus_epochs_settled_total',
      help: 'Epochs this coordinator finalized on chain (or found finalized after a restart)',
      registers: [registry],
    }),
    lastSettledEpoch: new Gauge({
      name: 'plexus_last_settled_epoch',
      help: 'The newest epoch settled on chain',
      registers: [registry],
    }),
    settlementFailures: new Counter({
      name: 'plexus_settlement_step_failures_total',
      help: 'Settlement steps that failed and will be retried (chain down, revert)',
      registers: [registry],
    }),
  };
}

import { Counter, Gauge, type Registry } from 'prom-client';

export type SensorMetrics = ReturnType<typeof createSensorMetrics>;

/**
 * Prometheus metrics of sensor ingestion, in the coordinator's registry.
 *
 * @example const m = createSensorMetrics(metrics.registry); m.readingsStored.inc({ source: 'mqtt' }, 500);
 */
export function createSensorMetrics(registry: Registry, queued: () => number = () => 0) {
  return {
    batchesStored: new Counter({
      name: 'plexus_sensor_batches_stored_total',
      help: 'Signed reading batches stored, by transport',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    readingsStored: new Counter({
      name: 'plexus_sensor_readings_stored_total',
      help: 'Readings stored (duplicates excluded), by transport',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    readingsDuplicate: new Counter({
      name: 'plexus_sensor_readings_duplicate_total',
      help: 'Readings dropped as duplicates of a stored (device, variable, time)',
      registers: [registry],
    }),
    batchesRejected: new Counter({
      name: 'plexus_sensor_batches_rejected_total',
      help: 'Batches refused, by transport and PLX_ code (MQTT: dropped, error published)',
      labelNames: ['source', 'code'] as const,
      registers: [registry],
    }),
    batchesDropped: new Counter({
      name: 'plexus_sensor_batches_dropped_total',
      help: 'MQTT batches dropped without being stored, by reason (busy, rate_limited, invalid)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    queuedReadings: new Gauge({
      name: 'plexus_sensor_queued_readings',
      help: 'Readings admitted and waiting to be written',
      registers: [registry],
      collect() {
        this.set(queued());
      },
    }),
  };
}

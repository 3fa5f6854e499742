import mqtt, { type MqttClient } from 'mqtt';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { MAX_BATCH_BYTES, MQTT_BATCH_TOPIC, mqttTopics } from '../constants.ts';
import type { Ingester } from './createIngester.ts';
import type { SensorMetrics } from './sensorMetrics.ts';

export type MqttIngest = { client: MqttClient; stop(): Promise<void> };

const DROP_REASON: Record<string, string> = {
  PLX_SENSOR_BUSY: 'busy',
  PLX_SENSOR_RATE_LIMITED: 'rate_limited',
};

/**
 * Subscribes to `plexus/sensors/+/batch` on an MQTT broker and feeds every message to the
 * ingester. MQTT has no reply channel, so a refused batch is dropped, counted
 * (`plexus_sensor_batches_dropped_total`) and its error published to
 * `plexus/sensors/<device>/errors` (or `plexus/sensors/errors` when no device can be named).
 * Nothing grows without bound: a full ingest queue drops the batch (QoS 0, like the device's own
 * radio would). With `acks`, each stored batch is acknowledged on `…/acks`.
 *
 * @example
 * const m = await startMqttIngest({ url: 'mqtt://127.0.0.1:1883', ingester, metrics, log });
 */
export async function startMqttIngest(deps: {
  url: string;
  ingester: Ingester;
  metrics: SensorMetrics;
  log: Logger;
  acks?: boolean;
}): Promise<MqttIngest> {
  const { ingester, metrics, log } = deps;
  const client = await mqtt.connectAsync(deps.url, {
    clientId: `plexus-coordinator-${Math.random().toString(36).slice(2, 10)}`,
    reconnectPeriod: 1000,
    clean: true,
  });
  client.on('error', (err) => log.warn({ err }, 'mqtt error'));
  client.on('reconnect', () => log.info('mqtt reconnecting'));
  // On every (re)connect: a clean session forgets subscriptions.
  const subscribe = () =>
    client.subscribe(MQTT_BATCH_TOPIC, { qos: 0 }, (err) => {
      if (err) log.error({ err }, 'mqtt subscribe failed');
    });
  client.on('connect', subscribe);
  subscribe();

  const publishError = (device: string | undefined, e: PlexusError, sequence?: unknown) => {
    const topic = device ? mqttTopics.errors(device) : mqttTopics.unattributed;
    client.publish(
      topic,
      JSON.stringify({ ...e.toJSON(), ...(sequence !== undefined ? { sequence } : {}) }),
      {
        qos: 0,
      },
    );
  };

  client.on('message', (topic, payload) => {
    const m = /^plexus\/sensors\/(0x[0-9a-fA-F]{40})\/batch$/.exec(topic);
    const topicDevice = m?.[1];
    let body: unknown;
    try {
      if (payload.length > MAX_BATCH_BYTES)
        throw new PlexusError('PLX_PAYLOAD_TOO_LARGE', `a batch is at most ${MAX_BATCH_BYTES} bytes`);
      if (!topicDevice)
        throw new PlexusError('PLX_VALIDATION', `topic ${topic} is not plexus/sensors/<device>/batch`);
      body = JSON.parse(payload.toString('utf8'));
      const named = (body as { device?: unknown } | null)?.device;
      if (typeof named !== 'string' || named.toLowerCase() !== topicDevice.toLowerCase())
        throw new PlexusError('PLX_VALIDATION', 'the batch device does not match the topic');
    } catch (err) {
      const e =
        err instanceof PlexusError ? err : new PlexusError('PLX_BAD_JSON', 'the batch is not valid JSON');
      metrics.batchesRejected.inc({ source: 'mqtt', code: e.code });
      metrics.batchesDropped.inc({ reason: 'invalid' });
      publishError(topicDevice, e);
      return;
    }
    const sequence = (body as { sequence?: unknown }).sequence;
    ingester.ingest(body, 'mqtt').then(
      (o) => {
        if (deps.acks) client.publish(mqttTopics.acks(o.device), JSON.stringify(o), { qos: 0 });
      },
      (err: unknown) => {
        const e =
          err instanceof PlexusError ? err : new PlexusError('PLX_INTERNAL', 'the batch could not be stored');
        if (!(err instanceof PlexusError)) log.error({ err }, 'mqtt batch failed');
        metrics.batchesDropped.inc({ reason: DROP_REASON[e.code] ?? 'invalid' });
        publishError(topicDevice, e, sequence);
      },
    );
  });

  return {
    client,
    async stop() {
      await client.endAsync();
    },
  };
}

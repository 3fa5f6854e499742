import type { StationRules } from './quality/types.ts';
import { WEATHERXM_WS1000 } from './quality/weatherxmRules.ts';

/**
 * Station models a device may register as, each with the quality rules of the variables it
 * reports (src/sensors/quality). A batch may carry only its model's variables.
 *
 * | model | variables | step |
 * | --- | --- | --- |
 * | `ws1000` | temperature °C, humidity %, windSpeed m/s, pressure hPa, illuminance lux | 16 s |
 * | `ws1000-60s` | the same, one reading a minute (cheaper radios) | 60 s |
 *
 * @example
 * stationModels.ws1000.variables.temperature.max; // 60
 */
export const stationModels: Record<string, StationRules> = {
  ws1000: WEATHERXM_WS1000,
  'ws1000-60s': { ...WEATHERXM_WS1000, stepMs: 60_000 },
};

/** Names of the station models, for schemas and the CLI. */
export const stationModelNames = Object.keys(stationModels) as [string, ...string[]];

import type { StationRules } from './types.ts';

const MINUTE = 60_000;

/**
 * Rules for a WeatherXM WS1000 (M5) station reporting every 16 s, transcribed from the published
 * QoD v1 parameters (`weatherxm-network/qod`, `src/obc_sqc/model/initial_params.py`): OBC limits,
 * raw jump thresholds per 16 s step, 10-minute rolling median, constant windows, and the hourly
 * availability thresholds. Units: °C, %, m/s, hPa, lux.
 *
 * @example
 * WEATHERXM_WS1000.variables.temperature.maxJump; // 2 (°C between consecutive 16 s readings)
 */
export const WEATHERXM_WS1000 = {
  stepMs: 16_000,
  variables: {
    temperature: {
      min: -40,
      max: 60,
      maxJump: 2,
      medianWindowMs: 10 * MINUTE,
      medianAvailability: 0.67,
      constantWindowMs: 240 * MINUTE,
      hourlyAvailability: 0.67,
    },
    humidity: {
      min: 10,
      max: 99,
      maxJump: 5,
      medianWindowMs: 10 * MINUTE,
      medianAvailability: 0.67,
      constantWindowMs: 360 * MINUTE,
      constantExemptAbove: 95,
      hourlyAvailability: 0.67,
    },
    windSpeed: {
      min: 0,
      max: 50,
      maxJump: 20,
      medianWindowMs: 10 * MINUTE,
      medianAvailability: 0.75,
      constantWindowMs: 360 * MINUTE,
      hourlyAvailability: 0.75,
    },
    pressure: {
      min: 300,
      max: 1100,
      maxJump: 0.8,
      medianWindowMs: 10 * MINUTE,
      medianAvailability: 0.67,
      constantWindowMs: 120 * MINUTE,
      hourlyAvailability: 0.67,
    },
    illuminance: {
      min: 0,
      max: 400_000,
      maxJump: 97_600,
      medianWindowMs: 10 * MINUTE,
      medianAvailability: 0.67,
      constantWindowMs: 120 * MINUTE,
      constantExemptAtOrBelow: 0,
      hourlyAvailability: 0.67,
    },
  },
} satisfies StationRules;

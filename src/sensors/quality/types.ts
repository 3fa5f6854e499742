/**
 * Shapes shared by the per-series sensor quality checks (issue 8, part 3). Every check is a pure
 * function over one variable's readings of one device, sorted by time.
 */

/** One reading: epoch milliseconds and the value (`null` when the device sent the slot empty). */
export type Reading = { t: number; v: number | null };

/**
 * The limits of one variable on one station model, in the style of WeatherXM's QoD v1
 * (`weatherxm-network/qod`, `initial_params.py`).
 */
export type VariableRules = {
  /** Sensor limits from the manufacturer: readings outside are out of bounds (OBC). */
  min: number;
  max: number;
  /** Largest physically possible change between two consecutive readings one step apart; omit to skip. */
  maxJump?: number;
  /** Window of the rolling median that decides which reading of a jump is the bad one. */
  medianWindowMs: number;
  /** Share of the median window that must hold readings for the median to count (e.g. 0.67). */
  medianAvailability: number;
  /** A value unchanged for at least this long is frozen; omit to skip. */
  constantWindowMs?: number;
  /** Frozen values at or above this are exempt (WeatherXM exempts humidity above 95 %). */
  constantExemptAbove?: number;
  /** Frozen values at or below this are exempt (our addition: illuminance sits at 0 all night). */
  constantExemptAtOrBelow?: number;
  /** Share of an hour's expected slots that must hold valid readings for the hour to score. */
  hourlyAvailability: number;
};

/** Station-model timing plus the rules of each variable it reports. */
export type StationRules = {
  /** Nominal interval between readings. */
  stepMs: number;
  variables: Record<string, VariableRules>;
};

/** Why a reading was rejected, named after WeatherXM's annotation codes. */
export type QualityFlag = 'OBC' | 'SPIKE_INST' | 'UNIDENTIFIED_SPIKE' | 'CONSTANT' | 'ANOMALY';

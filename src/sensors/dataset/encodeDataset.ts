import { parquetWriteBuffer } from 'hyparquet-writer';

/** One row of a dataset: a reading with its device's position and quality. */
export type DatasetRow = {
  device: string;
  lat: number;
  lon: number;
  variable: string;
  t: number;
  value: number;
  /** 0 passed the ingest checks, 1 out of range, 2 jump (docs/sensors.md). */
  flag: number;
  /** The device-day score (null: the day is not scored yet). */
  quality: number | null;
};

const COLUMNS = ['device', 'lat', 'lon', 'variable', 'time', 'value', 'flag', 'quality'] as const;

/**
 * CSV (RFC 4180, header row, time as ISO 8601 UTC) of dataset rows.
 *
 * @example toCsv(rows); // 'device,lat,lon,variable,time,value,flag,quality\n0xab…,52.37,4.9,temperature,2026-…'
 */
export function toCsv(rows: readonly DatasetRow[]): string {
  const lines = [COLUMNS.join(',')];
  for (const r of rows)
    lines.push(
      `${r.device},${r.lat},${r.lon},${r.variable},${new Date(r.t).toISOString()},${r.value},${r.flag},${r.quality ?? ''}`,
    );
  return `${lines.join('\n')}\n`;
}

/**
 * Parquet (hyparquet-writer) of dataset rows: time as TIMESTAMP_MILLIS, value and quality as DOUBLE.
 *
 * @example const bytes = toParquet(rows); // Buffer starting with 'PAR1'
 */
export function toParquet(rows: readonly DatasetRow[]): Buffer {
  const ab = parquetWriteBuffer({
    columnData: [
      { name: 'device', data: rows.map((r) => r.device), type: 'STRING' },
      { name: 'lat', data: rows.map((r) => r.lat), type: 'DOUBLE' },
      { name: 'lon', data: rows.map((r) => r.lon), type: 'DOUBLE' },
      { name: 'variable', data: rows.map((r) => r.variable), type: 'STRING' },
      { name: 'time', data: rows.map((r) => BigInt(r.t)), type: 'TIMESTAMP' },
      { name: 'value', data: rows.map((r) => r.value), type: 'DOUBLE' },
      { name: 'flag', data: rows.map((r) => r.flag), type: 'INT32' },
      { name: 'quality', data: rows.map((r) => r.quality), type: 'DOUBLE' },
    ],
  });
  return Buffer.from(ab);
}

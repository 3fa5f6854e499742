import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPlexusError } from '../errors/PlexusError.ts';
import { formatPlx } from './format.ts';
import { parsePlxAmount } from './parsePlxAmount.ts';

test('PLX amounts parse exactly to base units and format back', () => {
  const cases: [string, bigint][] = [
    ['1000', 1000n * 10n ** 18n],
    ['0.5', 5n * 10n ** 17n],
    ['0.000000000000000001', 1n],
    ['12.000000000000000001', 12n * 10n ** 18n + 1n],
    ['400000000', 4n * 10n ** 26n],
    ['9007199254740993', 9007199254740993n * 10n ** 18n], // above 2^53: a float would be off by one
  ];
  for (const [text, units] of cases) {
    assert.equal(parsePlxAmount(text), units, text);
    assert.equal(formatPlx(units), `${text} PLX`);
  }
});

test('anything but a positive decimal amount with at most 18 decimals is PLX_VALIDATION', () => {
  for (const bad of [
    '',
    '0',
    '0.0',
    '-5',
    '+5',
    '1e3',
    '1.2.3',
    '.5',
    '5.',
    '0x10',
    ' 1',
    '1,000',
    '01',
    'NaN',
    'Infinity',
    '0.0000000000000000001', // 19 decimals: parseUnits would round it to 0 or 1 base unit
    '1'.repeat(61),
    `${'9'.repeat(60)}`, // above uint256
  ]) {
    assert.throws(
      () => parsePlxAmount(bad, '--stake'),
      (err: unknown) => isPlexusError(err, 'PLX_VALIDATION') && /--stake|uint256/.test(err.message),
      JSON.stringify(bad),
    );
  }
});

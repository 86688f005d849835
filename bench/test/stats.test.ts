import * as assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { formatDuration, formatMs, formatPercentiles, median, percentile, sortedCopy } from '../src/stats.js';

const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

describe('percentile (nearest rank)', () => {
  it('of 1..100 is the rank itself, and p99.9 is the largest sample', () => {
    assert.equal(percentile(oneToHundred, 50), 50);
    assert.equal(percentile(oneToHundred, 99), 99);
    assert.equal(percentile(oneToHundred, 99.9), 100);
    assert.equal(percentile(oneToHundred, 100), 100);
    assert.equal(percentile(oneToHundred, 0.5), 1);
  });

  it('is always one of the samples, and at least p % of them are at or below it', () => {
    const samples = sortedCopy([5, 3, 9, 1, 7, 2, 8]);
    for (const p of [1, 10, 25, 50, 75, 90, 99, 99.9, 100]) {
      const value = percentile(samples, p);
      assert.ok(samples.includes(value));
      assert.ok(samples.filter((x) => x <= value).length >= (p / 100) * samples.length);
      assert.ok(samples.filter((x) => x < value).length < (p / 100) * samples.length);
    }
  });

  it('of no samples is NaN, never a number', () => {
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.ok(Number.isNaN(median([])));
  });

  it('refuses a percentile outside (0, 100]', () => {
    assert.throws(() => percentile(oneToHundred, 0), RangeError);
    assert.throws(() => percentile(oneToHundred, 101), RangeError);
    assert.throws(() => percentile(oneToHundred, Number.NaN), RangeError);
  });

  it('median of an even count is the lower middle', () => {
    assert.equal(median([1, 2, 3, 4]), 2);
  });
});

describe('sortedCopy', () => {
  it('sorts numerically (not as strings) and leaves its input alone', () => {
    const input = [10, 9, 100, 1.5, -2];
    assert.deepEqual(sortedCopy(input), [-2, 1.5, 9, 10, 100]);
    assert.deepEqual(input, [10, 9, 100, 1.5, -2]);
  });
});

describe('formats', () => {
  it('milliseconds get fewer decimals as they grow, and n/a when not a number', () => {
    assert.equal(formatMs(0.844), '0.84');
    assert.equal(formatMs(12.34), '12.3');
    assert.equal(formatMs(2041.2), '2,041');
    assert.equal(formatMs(Number.NaN), 'n/a');
  });

  it('percentiles read as one line', () => {
    assert.equal(formatPercentiles(oneToHundred, [50, 99]), 'p50 50.0 / p99 99.0 ms');
  });

  it('durations', () => {
    assert.equal(formatDuration(42.4), '42 s');
    assert.equal(formatDuration(134.2), '2 min 14 s');
  });
});

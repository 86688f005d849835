import * as assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { ALL_PHASES, readSettings, variablesSet } from '../src/settings.js';

describe('readSettings', () => {
  it('gives the documented defaults with an empty environment', () => {
    const settings = readSettings({});
    assert.deepEqual([...settings.phases], [...ALL_PHASES]);
    assert.equal(settings.partitions, 6);
    assert.equal(settings.produceSeconds, 8);
    assert.deepEqual(settings.latencyRates, [1000, 5000]);
    assert.equal(settings.failoverTrials, 3);
    assert.equal(settings.write, true);
    assert.equal(settings.benchmarksFile, undefined);
  });

  it('BENCH_SCALE multiplies the windows and the trials, keeping at least one trial', () => {
    const settings = readSettings({ BENCH_SCALE: '0.25', PRODUCE_SECONDS: '12' });
    assert.equal(settings.produceSeconds, 3);
    assert.equal(settings.warmupSeconds, 0.5);
    assert.equal(settings.failoverTrials, 1);
    assert.equal(readSettings({ BENCH_SCALE: '2' }).failoverTrials, 6);
  });

  it('refuses a bad value naming the variable, instead of falling back', () => {
    assert.throws(() => readSettings({ PRODUCE_SECONDS: 'ten' }), /PRODUCE_SECONDS=ten/);
    assert.throws(() => readSettings({ PARTITIONS: '2.5' }), /PARTITIONS=2.5: expected a positive integer/);
    assert.throws(() => readSettings({ BENCH_SCALE: '0' }), /BENCH_SCALE=0/);
    assert.throws(() => readSettings({ LATENCY_RATES: '1000,fast' }), /LATENCY_RATES: "fast"/);
    assert.throws(() => readSettings({ PHASES: 'produce,soak' }), /PHASES: "soak"/);
    assert.throws(() => readSettings({ BENCH_WRITE: 'no' }), /BENCH_WRITE=no/);
  });

  it('treats an empty variable as unset', () => {
    assert.equal(readSettings({ PRODUCE_SECONDS: '' }).produceSeconds, 8);
  });

  it('lists the variables a run was given that change what it measures', () => {
    const env = { BENCH_SCALE: '0.5', HOME: '/root', PHASES: ' latency ', BENCH_WRITE: 'false', BENCH_NOTE: 'busy' };
    assert.equal(readSettings(env).note, 'busy');
    assert.deepEqual(variablesSet(env), ['PHASES=latency', 'BENCH_SCALE=0.5']);
  });
});

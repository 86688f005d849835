import * as assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { cpuModel, describeLoad, describeMachine } from '../src/machine.js';

describe('cpuModel', () => {
  it('takes the first model name of an x86 /proc/cpuinfo', () => {
    const cpuinfo =
      'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC   7B13\n\nprocessor\t: 1\nmodel name\t: other\n';
    assert.equal(cpuModel(cpuinfo), 'AMD EPYC 7B13');
  });

  it('falls back to an ARM board’s Hardware line, and says when it does not know', () => {
    assert.equal(cpuModel('processor\t: 0\nBogoMIPS\t: 50.00\nHardware\t: BCM2835\n'), 'BCM2835');
    assert.equal(cpuModel('processor\t: 0\n'), 'CPU model unknown');
    assert.equal(cpuModel(undefined), 'CPU model unknown');
  });
});

describe('describeMachine', () => {
  it('names cores, CPU, Node and OS', () => {
    const text = describeMachine({
      cores: 2,
      cpuinfo: 'model name\t: AMD EPYC\n',
      nodeVersion: 'v20.20.2',
      osType: 'Linux',
      osRelease: '6.8.0',
      arch: 'x64',
      loadAverage: [0.1, 0.2, 0.3],
    });
    assert.equal(text, '2 cores (nproc), AMD EPYC, Node v20.20.2, Linux 6.8.0 x64');
  });

  it('load averages with two decimals', () => {
    assert.equal(describeLoad([0.123, 1, 2.5]), '0.12 / 1.00 / 2.50 (1, 5, 15 min)');
  });
});

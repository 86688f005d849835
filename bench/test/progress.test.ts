import * as assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { clock, Progress, progressFraction, renderLine, renderStepLine } from '../src/progress.js';

const steps = [
  { label: 'start', expectedSeconds: 10 },
  { label: 'produce', expectedSeconds: 30 },
  { label: 'stop', expectedSeconds: 10 },
];

describe('progressFraction', () => {
  it('counts finished steps whole and the current one by its time, up to 95 % of its share', () => {
    assert.equal(progressFraction(steps, 0, 0), 0);
    assert.equal(progressFraction(steps, 1, 0), 0.2);
    assert.equal(progressFraction(steps, 1, 15), 0.5);
    assert.equal(progressFraction(steps, 1, 1000), (10 + 28.5) / 50);
    assert.equal(progressFraction(steps, 3, 0), 1);
  });

  it('never runs backwards as time passes and steps end', () => {
    let last = 0;
    for (let index = 0; index < steps.length; index++) {
      for (let seconds = 0; seconds <= 60; seconds += 5) {
        const fraction = progressFraction(steps, index, seconds);
        assert.ok(fraction >= last);
        last = fraction;
      }
    }
  });
});

describe('rendering', () => {
  it('a bar, the share, the clock and the step', () => {
    assert.equal(renderLine(0.5, 83, 'produce', 80), `[${'#'.repeat(12)}${'·'.repeat(12)}]  50%  1:23  produce`);
  });

  it('cuts the line to the terminal width', () => {
    const line = renderLine(0.1, 5, 'x'.repeat(200), 40);
    assert.equal([...line].length, 40);
    assert.ok(line.endsWith('…'));
  });

  it('plain step lines where there is no terminal', () => {
    assert.equal(renderStepLine(2, 9, 62, 'produce 1 KiB'), '[3/9 1:02] produce 1 KiB');
    assert.equal(clock(3600), '60:00');
  });
});

describe('Progress', () => {
  const output = (isTTY: boolean) => {
    const written: string[] = [];
    return { written, out: { isTTY, columns: 100, write: (text: string) => written.push(text) > 0 } };
  };

  it('without a terminal, writes one line per step and logs as plain lines', () => {
    const { written, out } = output(false);
    let now = 0;
    const progress = new Progress(steps, out, () => now);
    progress.step('start');
    now = 12_000;
    progress.step('produce', '100 B');
    progress.log('a result');
    progress.step('produce', 'still');
    progress.stop();
    assert.deepEqual(written, [
      '[1/3 0:00] start\n',
      '[2/3 0:12] produce: 100 B\n',
      'a result\n',
      '[2/3 0:12] produce: still\n',
    ]);
  });

  it('on a terminal, redraws one line and clears it before a log line and at the end', () => {
    const { written, out } = output(true);
    const progress = new Progress(steps, out, () => 0);
    progress.step('start');
    progress.log('a result');
    progress.stop();
    assert.ok(written.every((w) => w.startsWith('\r\x1b[2K')));
    assert.ok(written.some((w) => w === '\r\x1b[2Ka result\n'));
    assert.equal(written.at(-1), '\r\x1b[2K');
    assert.ok(!written.some((w) => w.endsWith('\n') && w.includes('·')), 'the bar itself never ends a line');
  });
});

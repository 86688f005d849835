import * as assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import {
  buildSection,
  formatTable,
  goalText,
  replaceSection,
  SECTION_END,
  SECTION_START,
  wrapProse,
} from '../src/report.js';

const DOCUMENT = [
  '# Benchmarks',
  '',
  'Figures from real runs.',
  '',
  '## packages/protocol — codec',
  '',
  'A table.',
  '',
  '## apps/broker — cluster',
  '',
  'Another.',
  '',
].join('\n');

const section = (body: string) => buildSection({ title: 'pnpm bench', preamble: [body], table: '| a |', notes: [] });

describe('replaceSection', () => {
  it('puts a first section before the first second-level heading and keeps every other byte', () => {
    const written = replaceSection(DOCUMENT, section('run 1'));
    const start = written.indexOf(SECTION_START);
    assert.equal(written.slice(0, start), DOCUMENT.slice(0, DOCUMENT.indexOf('## packages')));
    assert.ok(written.endsWith(DOCUMENT.slice(DOCUMENT.indexOf('## packages'))));
    assert.ok(written.indexOf(SECTION_END) < written.indexOf('## packages'));
  });

  it('replaces the previous run and nothing else', () => {
    const first = replaceSection(DOCUMENT, section('run 1'));
    const second = replaceSection(first, section('run 2'));
    assert.ok(!second.includes('run 1'));
    assert.ok(second.includes('run 2'));
    assert.equal(second.replace('run 2', 'run 1'), first);
    assert.equal(replaceSection(second, section('run 2')), second);
  });

  it('leaves text an editor added around the markers in place', () => {
    const first = replaceSection(DOCUMENT, section('run 1'));
    const edited = first.replace('# Benchmarks', '# Benchmarks (edited)').replace('Another.', 'Another, edited.');
    const second = replaceSection(edited, section('run 2'));
    assert.ok(second.includes('# Benchmarks (edited)'));
    assert.ok(second.includes('Another, edited.'));
  });

  it('appends to a file without second-level headings, and writes an empty one', () => {
    assert.equal(replaceSection('# Benchmarks\n', 'S'), '# Benchmarks\n\nS\n');
    assert.equal(replaceSection('# Benchmarks', 'S'), '# Benchmarks\n\nS\n');
    assert.equal(replaceSection('', 'S'), 'S\n');
  });

  it('refuses a file whose markers are unpaired, out of order or repeated', () => {
    assert.throws(() => replaceSection(`${SECTION_START}\nx\n`, 'S'), /out of pairs or order/);
    assert.throws(() => replaceSection(`${SECTION_END}\nx\n${SECTION_START}\n`, 'S'), /out of pairs or order/);
    const twice = `${SECTION_START}a${SECTION_END}\n${SECTION_START}b${SECTION_END}\n`;
    assert.throws(() => replaceSection(twice, 'S'), /more than one/);
  });
});

describe('buildSection', () => {
  it('is wrapped in the markers and has the title as a second-level heading', () => {
    const text = buildSection({ title: 'T', preamble: ['P'], table: '| t |', notes: ['N'] });
    assert.equal(text, `${SECTION_START}\n## T\n\nP\n\n| t |\n\nN\n${SECTION_END}`);
  });
});

describe('formatTable', () => {
  it('pads every column to one width and escapes pipes in cells', () => {
    const table = formatTable([
      { measure: 'produce 100 B', result: 'a | b', goal: '≥ 60 MB/s: met', cores: '1.00 / 0.20 / 0.00' },
      { measure: 'p', result: 'failed: x', goal: '', cores: '' },
    ]);
    const lines = table.split('\n');
    assert.equal(lines.length, 4);
    const lengths = new Set(lines.map((l) => [...l].length));
    assert.equal(lengths.size, 1);
    assert.ok(lines[2]?.includes('a \\| b'));
    assert.match(lines[1] as string, /^\| -+ \| -+ \| -+ \| -+ \|$/);
  });
});

describe('goalText', () => {
  it('says met or not met, and a figure that is not a number meets nothing', () => {
    assert.equal(
      goalText('p99 < 5 ms', 4.2, (v) => v < 5),
      'p99 < 5 ms: met',
    );
    assert.equal(
      goalText('p99 < 5 ms', 6, (v) => v < 5),
      'p99 < 5 ms: not met',
    );
    assert.equal(
      goalText('p99 < 5 ms', Number.NaN, (v) => !(v >= 5)),
      'p99 < 5 ms: not met',
    );
  });
});

describe('wrapProse', () => {
  it('folds paragraphs at the width without splitting words, list items with a hanging indent', () => {
    const text = 'one two three four five six\n- seven eight nine ten eleven';
    assert.equal(wrapProse(text, 13), 'one two three\nfour five six\n- seven eight\n  nine ten\n  eleven');
  });

  it('keeps a word longer than the width whole, on its own line', () => {
    assert.equal(wrapProse('a `bench/src/main.ts` b', 8), 'a\n`bench/src/main.ts`\nb');
  });

  it('leaves short lines and the line structure alone', () => {
    assert.equal(wrapProse('From this run:\n- a\n- b', 100), 'From this run:\n- a\n- b');
  });
});

/**
 * The table a run prints and the BENCHMARKS.md section it writes. Pure: text in, text out; the
 * caller reads and writes the file.
 */

/** One line of the table. Every figure in it comes from the run; a failed phase says so in `result`. */
export interface Row {
  readonly measure: string;
  readonly result: string;
  /** The goal and whether this run met it; empty where there is none. */
  readonly goal: string;
  /** Cores used in the measured window, cluster / bench / other; empty where not measured. */
  readonly cores: string;
}

export const SECTION_START = '<!-- pnpm bench: start -->';
export const SECTION_END = '<!-- pnpm bench: end -->';

const HEADER = ['measure', 'result', 'goal', 'cores: cluster / bench / other'] as const;

/** A cell's text made safe for a Markdown table: pipes escaped, line breaks flattened. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The rows as a Markdown table, columns padded so that it also reads as plain text. */
export function formatTable(rows: readonly Row[]): string {
  const lines = [[...HEADER], ...rows.map((r) => [cell(r.measure), cell(r.result), cell(r.goal), cell(r.cores)])];
  const widths = HEADER.map((_, i) => Math.max(...lines.map((line) => [...(line[i] as string)].length)));
  const pad = (text: string, width: number) => text + ' '.repeat(width - [...text].length);
  const format = (line: readonly string[]) => `| ${line.map((c, i) => pad(c, widths[i] as number)).join(' | ')} |`;
  const [header, ...body] = lines;
  return [
    format(header as string[]),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...body.map((line) => format(line)),
  ].join('\n');
}

/** "≥ 60 MB/s: met" or "… not met"; a figure that is not a number meets nothing. */
export function goalText(goal: string, value: number, met: (value: number) => boolean): string {
  return `${goal}: ${Number.isFinite(value) && met(value) ? 'met' : 'not met'}`;
}

/**
 * Prose folded at `width` columns, as the rest of BENCHMARKS.md is: each line of `text` is a
 * paragraph or a list item (`- …`, whose continuation lines are indented by two spaces); words
 * are never split, so a word longer than the width stands on a line of its own.
 */
export function wrapProse(text: string, width: number): string {
  return text
    .split('\n')
    .map((line) => {
      const indent = line.startsWith('- ') ? '  ' : '';
      const lines: string[] = [];
      let current = '';
      for (const word of line.split(' ').filter((w) => w !== '')) {
        const candidate = current === '' ? word : `${current} ${word}`;
        if ([...candidate].length <= width || current === '' || current === indent) current = candidate;
        else {
          lines.push(current);
          current = `${indent}${word}`;
        }
      }
      lines.push(current);
      return lines.join('\n');
    })
    .join('\n');
}

export interface SectionParts {
  readonly title: string;
  /** Paragraphs and lists, already in Markdown, between the title and the table. */
  readonly preamble: readonly string[];
  readonly table: string;
  /** Paragraphs after the table. */
  readonly notes: readonly string[];
}

/** The whole section, markers included, as `replaceSection` puts it into the file; prose folded at 100 columns. */
export function buildSection(parts: SectionParts): string {
  const prose = (blocks: readonly string[]) => blocks.map((b) => wrapProse(b, 100));
  const blocks = [`## ${parts.title}`, ...prose(parts.preamble), parts.table, ...prose(parts.notes)];
  return `${SECTION_START}\n${blocks.join('\n\n')}\n${SECTION_END}`;
}

/**
 * `document` with the previous run's section (between the markers, markers included) replaced by
 * `section`; without one, `section` goes before the first second-level heading (near the top,
 * after the file's introduction), or at the end if there is none. Every other byte is kept. A
 * file with one marker but not the other, or with them out of order, is refused rather than
 * guessed at: whatever lies between them might be someone's text.
 */
export function replaceSection(document: string, section: string): string {
  const start = document.indexOf(SECTION_START);
  const end = document.indexOf(SECTION_END);
  if (start !== -1 || end !== -1) {
    if (start === -1 || end === -1 || end < start) {
      throw new Error(
        `BENCHMARKS.md has "${SECTION_START}" and "${SECTION_END}" out of pairs or order; fix it by hand`,
      );
    }
    if (document.indexOf(SECTION_START, start + 1) !== -1 || document.indexOf(SECTION_END, end + 1) !== -1) {
      throw new Error('BENCHMARKS.md has more than one pnpm bench section; remove all but one by hand');
    }
    return document.slice(0, start) + section + document.slice(end + SECTION_END.length);
  }
  const heading = /^## /m.exec(document);
  if (heading === null) {
    const separator = document === '' ? '' : document.endsWith('\n') ? '\n' : '\n\n';
    return `${document}${separator}${section}\n`;
  }
  return `${document.slice(0, heading.index)}${section}\n\n${document.slice(heading.index)}`;
}

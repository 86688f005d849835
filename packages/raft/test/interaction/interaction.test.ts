import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runScript } from './runner.js';

const scriptsDir = join(import.meta.dirname, 'scripts');
const scripts = readdirSync(scriptsDir).filter((f) => f.endsWith('.script'));

describe('interaction transcripts', () => {
  test.each(scripts)('%s', async (file) => {
    const transcript = runScript(readFileSync(join(scriptsDir, file), 'utf8'));
    await expect(transcript).toMatchFileSnapshot(join('testdata', file.replace(/\.script$/, '.txt')));
  });
});

// Golden scenario transcripts (testing.md §4.1.3). UPDATE_GOLDEN=1 rewrites them.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { runScenarioFile } from './runner';

const dir = __dirname;
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

describe('scenario transcripts', () => {
  test('there are transcripts', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  test.each(files)('%s', (file) => {
    const { actual, expected } = runScenarioFile(join(dir, file));
    if (process.env.UPDATE_GOLDEN === '1') return;
    expect(actual).toBe(expected);
  });
});

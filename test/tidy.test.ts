// Tidy test (architecture.md §2.10, after TigerBeetle's tidy.zig): resolves every relative
// import in src/ and checks that imports flow downward only, that the deterministic core
// uses no Node APIs, clocks, timers or unseeded randomness, and that no focused or
// forgotten test markers are committed. ESLint checks most of this too; this test resolves
// paths exactly, which a lint regex cannot (src/totem/config.ts vs src/config/).

import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'src');

function listTs(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return listTs(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The layer of a file under src/, by its first directory. */
function layerOf(file: string): string {
  const rel = path.relative(src, file).split(path.sep);
  if (rel[0] === 'asterisk' && rel[1] === 'core') return 'bridge-core';
  return rel.length > 1 ? (rel[0] ?? '') : '';
}

const coreLayers = new Set(['base', 'totem', 'services', 'bridge-core']);
/** What each core layer may import (besides itself). */
const allowed: Record<string, ReadonlySet<string>> = {
  base: new Set(),
  totem: new Set(['base']),
  services: new Set(['base', 'totem']),
  'bridge-core': new Set(['base', 'totem', 'services']),
};

const importPattern = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;
const bannedCoreTokens: Array<[RegExp, string]> = [
  [/\bsetTimeout\b|\bsetInterval\b|\bsetImmediate\b|\bqueueMicrotask\b/, 'timers are banned in the core: count ticks'],
  [/\bDate\b/, 'Date is banned in the core: time is ticks'],
  [/\bperformance\b/, 'performance is banned in the core: time is ticks'],
  [/Math\.random/, 'Math.random is banned in the core: use the injected Prng'],
  [/\bprocess\./, 'process is banned in the core'],
  [/\bBuffer\b/, 'Buffer is banned in the core: use Uint8Array'],
];

const files = listTs(src);

describe('tidy', () => {
  test('there is source to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  test('imports flow downward only and the core imports no Node module', () => {
    const problems: string[] = [];
    for (const file of files) {
      const layer = layerOf(file);
      if (!coreLayers.has(layer)) continue;
      const text = fs.readFileSync(file, 'utf8');
      for (const match of text.matchAll(importPattern)) {
        const spec = match[1] ?? match[2] ?? '';
        const where = `${path.relative(root, file)}: import '${spec}'`;
        if (!spec.startsWith('.')) {
          problems.push(`${where}: the core imports no packages or node:* modules`);
          continue;
        }
        const target = layerOf(path.resolve(path.dirname(file), spec));
        if (target !== layer && !(allowed[layer]?.has(target) ?? false)) {
          problems.push(`${where}: ${layer} may not import ${target || 'top-level files'}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test('the core uses no clocks, timers, unseeded randomness or Buffer', () => {
    const problems: string[] = [];
    for (const file of files.filter((f) => coreLayers.has(layerOf(f)))) {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '');
        for (const [pattern, why] of bannedCoreTokens) {
          if (pattern.test(code)) problems.push(`${path.relative(root, file)}:${i + 1}: ${why}`);
        }
      });
    }
    expect(problems).toEqual([]);
  });

  test('no focused tests or FIXME markers are committed', () => {
    const problems: string[] = [];
    for (const file of [...files, ...listTs(path.join(root, 'test'))]) {
      if (file === __filename) continue;
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (/\b(?:describe|test|it)\.only\(|\bFIXME\b/.test(line)) problems.push(`${path.relative(root, file)}:${i + 1}`);
      });
    }
    expect(problems).toEqual([]);
  });
});

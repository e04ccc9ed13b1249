// The version in package.json, for `--version` and the man pages' footer
// (architecture.md §3.3 "man-page-like --help"). Compiled files live two levels below
// the package root (dist/bin, dist/cli), as do the sources run by tsx (src/bin, src/cli).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** package.json's version, or 'unknown' when it cannot be read (a copied dist/). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

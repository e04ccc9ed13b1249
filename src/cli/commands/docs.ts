// `carillon completion bash|zsh|fish` and `carillon man` (architecture.md §3.3 "Shell
// completion", "man-page-like --help"): both walk the program's command tree when they
// run, so every command registered in program.ts is covered without being listed here.
// carillond(8) comes from cli/daemon-command.ts, the definition bin/daemon.ts parses with.
//
// Exit status: 0 ok; 1 a page could not be written; 2 usage (unknown shell or page).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Argument, type Command } from 'commander';
import { describeCommandTree } from '../command-tree';
import { type CompletionShell, CompletionShells, completionScript } from '../completion';
import { DAEMON_DEFAULT_CONFIG, buildDaemonCommand } from '../daemon-command';
import { type ManPage, manPages } from '../man';
import { packageVersion } from '../package-version';
import type { CommandIo } from './wire-decode';

export const DocsExit = { ok: 0, failure: 1, usage: 2 } as const;

const COMPLETION_HELP = `
Prints a completion script for SHELL on stdout, generated from the command tree:
every command, option and fixed choice of this carillon. Values named like files
complete as file names; group names and cmap keys are not completed.

EXAMPLES
  carillon completion bash > /etc/bash_completion.d/carillon
  source <(carillon completion bash)
  carillon completion zsh > "\${fpath[1]}/_carillon"
  carillon completion fish > ~/.config/fish/completions/carillon.fish

EXIT STATUS
  0   the script was printed
  2   usage error (unknown shell)`;

const MAN_HELP = `
Generates the manual pages from the command trees of carillon and carillond:
carillon(1), one carillon-COMMAND(1) per command (carillon-show(1) covers every
\`carillon show ...\`) and carillond(8), with the text --help prints. Without
--dir, prints PAGE (default carillon; also carillond, show or carillon-show) on
stdout. With --dir, writes every page (or only PAGE) as DIR/man1/*.1 and
DIR/man8/carillond.8, removes carillon-*.1 pages of commands that no longer
exist, and prints one line per file written. \`npm run build\` writes them into
deploy/man.

--json prints { dir, files } with --dir, else { name, section, file, text }.

EXAMPLES
  carillon man | man -l -
  carillon man carillond | man -l -
  carillon man --dir /usr/local/share/man && mandb -q
  man -M deploy/man carillon-show

EXIT STATUS
  0   the pages were printed or written
  1   a page could not be written
  2   usage error (unknown page)`;

function allPages(program: Command): ManPage[] {
  const daemon = buildDaemonCommand({ defaultConfig: DAEMON_DEFAULT_CONFIG, version: packageVersion() });
  return manPages(describeCommandTree(program), describeCommandTree(daemon), packageVersion());
}

function findPage(pages: readonly ManPage[], wanted: string): ManPage | undefined {
  return pages.find((p) => p.name === wanted || p.name === `carillon-${wanted}`);
}

function writePages(dir: string, pages: readonly ManPage[], all: readonly ManPage[]): string[] {
  const written: string[] = [];
  for (const p of pages) {
    const file = path.join(dir, p.file);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, p.text);
    written.push(file);
  }
  // Pages of commands that were removed or renamed would otherwise linger.
  const man1 = path.join(dir, 'man1');
  const current = new Set(all.map((p) => path.basename(p.file)));
  if (fs.existsSync(man1)) {
    for (const name of fs.readdirSync(man1)) {
      if (/^carillon-.+\.1$/.test(name) && !current.has(name)) fs.rmSync(path.join(man1, name));
    }
  }
  return written;
}

function runMan(program: Command, page: string | undefined, flags: { dir?: string; json?: boolean }, io: CommandIo): number {
  const pages = allPages(program);
  let chosen: ManPage[] = pages;
  if (page !== undefined || flags.dir === undefined) {
    const found = findPage(pages, page ?? 'carillon');
    if (found === undefined) {
      io.err(`carillon man: no page '${page ?? ''}'; pages: ${pages.map((p) => p.name).join(', ')}`);
      return DocsExit.usage;
    }
    chosen = [found];
  }
  if (flags.dir === undefined) {
    const p = chosen[0];
    if (p === undefined) return DocsExit.usage;
    io.out(flags.json === true ? JSON.stringify({ name: p.name, section: p.section, file: p.file, text: p.text }) : p.text.replace(/\n$/, ''));
    return DocsExit.ok;
  }
  let written: string[];
  try {
    written = writePages(flags.dir, chosen, pages);
  } catch (e) {
    io.err(`carillon man: cannot write the pages under ${flags.dir}: ${e instanceof Error ? e.message : String(e)}`);
    return DocsExit.failure;
  }
  if (flags.json === true) io.out(JSON.stringify({ dir: flags.dir, files: written }));
  else for (const file of written) io.out(file);
  return DocsExit.ok;
}

/** Adds `completion` and `man` to the program. */
export function registerDocCommands(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'the shell to complete for').choices(CompletionShells))
    .addHelpText('after', COMPLETION_HELP)
    .action((shell: CompletionShell) => {
      io.out(completionScript(shell, describeCommandTree(program)).replace(/\n$/, ''));
      setExitCode(DocsExit.ok);
    });

  program
    .command('man')
    .description('print or write the manual pages (roff), generated from the command tree')
    .argument('[page]', 'one page: carillon, carillond, or a command (show, carillon-show)')
    .option('--dir <dir>', 'write the pages as DIR/man1/*.1 and DIR/man8/*.8')
    .option('--json', 'one JSON object instead of the page or the file list')
    .addHelpText('after', MAN_HELP)
    .action((page: string | undefined, flags: { dir?: string; json?: boolean }) => {
      setExitCode(runMan(program, page, flags, io));
    });
}

// Goal: `carillon completion bash|zsh|fish` and `carillon man` are generated from the
// command tree (architecture.md §3.3): every visible command and option appears in the
// three completion scripts and in the man pages, hidden ones (the totem test hooks) do
// not, a command added to the program appears without further work, the bash script
// completes commands, options, choices and nested paths as commander parses them, and
// the pages are valid roff that groff renders without a warning.
// Method: the commander program of cli/program.ts (and carillond's of
// cli/daemon-command.ts) walked independently with commander's public Help API, compared
// with the generated text; the scripts are checked by `bash -n` / `zsh -n` / `fish -n`
// and exercised (bash functions, `fish complete -C`) when those shells are installed;
// the pages by `groff -man -ww -z` when groff is installed, and structurally always.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { describeCommandTree } from '../../../src/cli/command-tree';
import { type CompletionShell, completionScript } from '../../../src/cli/completion';
import { DAEMON_DEFAULT_CONFIG, buildDaemonCommand } from '../../../src/cli/daemon-command';
import { manPages } from '../../../src/cli/man';
import { buildProgram, runCli } from '../../../src/cli/program';
import { captureIo } from './captured-io';

function program(): Command {
  return buildProgram(captureIo(), () => undefined);
}

function daemon(): Command {
  return buildDaemonCommand({ defaultConfig: DAEMON_DEFAULT_CONFIG, version: '9.9.9' });
}

function has(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

interface Visible {
  path: string[];
  command: Command;
  flags: string[];
}

/** Every visible command with its visible option flags, via commander's own Help. */
function visibleCommands(root: Command, parent: string[] = []): Visible[] {
  const help = root.createHelp();
  const here = [...parent, root.name()];
  const flags = help.visibleOptions(root).flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));
  const children = help.visibleCommands(root).filter((c) => root.commands.includes(c));
  return [{ path: here, command: root, flags }, ...children.flatMap((c) => visibleCommands(c, here))];
}

/** Runs `lines` in bash after sourcing the completion script; returns stdout. */
function bash(script: string, lines: string): string {
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', `${script}\n${lines}`], { encoding: 'utf8', timeout: 10_000 });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

/** What the bash completion offers for the words (the last one is being completed). */
function bashComplete(script: string, words: readonly string[]): string[] {
  const array = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const out = bash(script, `COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; compopt() { :; }; _carillon; printf '%s\\n' "\${COMPREPLY[@]}"`);
  return out.split('\n').filter((l) => l !== '');
}

let tmp = '';
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-docs-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('command tree', () => {
  it('lists every visible command and option, and no hidden one', () => {
    const tree = describeCommandTree(program());
    const expected = visibleCommands(program()).map((v) => v.path.join(' '));
    const walked: string[] = [];
    const walk = (spec: typeof tree): void => {
      walked.push(spec.path.join(' '));
      spec.subcommands.forEach(walk);
    };
    walk(tree);
    expect(walked).toEqual(expected);
    expect(walked).toContain('carillon show members');
    expect(walked).toContain('carillon completion');
    expect(walked.some((p) => p.startsWith('carillon totem'))).toBe(false);
  });

  it('captures the addHelpText after-text exactly as --help prints it', async () => {
    const io = captureIo();
    await runCli(['keygen', '--help'], io);
    const keygen = describeCommandTree(program()).subcommands.find((c) => c.name === 'keygen');
    expect(keygen?.afterHelp).toMatch(/^Writes a new cluster authentication key/);
    expect(io.stdout.join('\n')).toContain(keygen?.afterHelp ?? 'missing');
  });
});

describe('completion scripts', () => {
  const tree = describeCommandTree(program());
  const scripts = Object.fromEntries((['bash', 'zsh', 'fish'] as const).map((s) => [s, completionScript(s, tree)])) as Record<CompletionShell, string>;

  it('name every visible command and option, and not the hidden totem hooks', () => {
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      for (const v of visibleCommands(program())) {
        expect(scripts[shell]).toContain(v.command.name());
        for (const flag of v.flags) expect(scripts[shell]).toContain(shell === 'fish' ? flag.replace(/^--?/, '') : flag);
      }
      // As a command name (quoted, a case arm, a path), not in descriptions ("corosync totem traffic").
      expect(scripts[shell]).not.toMatch(/'totem'|\(totem\)|carillon totem|_carillon__totem/);
    }
  });

  it('zsh: one function per command, with each of its options', () => {
    for (const v of visibleCommands(program())) {
      const fn = `_${v.path.join('__').replace(/-/g, '_')}() {`;
      const start = scripts.zsh.indexOf(fn);
      expect(start).toBeGreaterThanOrEqual(0);
      const body = scripts.zsh.slice(start, scripts.zsh.indexOf('\n}\n', start));
      for (const flag of v.flags) expect(body).toContain(flag);
    }
    expect(scripts.zsh.startsWith('#compdef carillon\n')).toBe(true);
  });

  it('the shells accept their scripts (bash -n, zsh -n, fish -n where installed)', () => {
    const checked: string[] = [];
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      if (!has(shell)) continue;
      const file = path.join(tmp, `completion.${shell}`);
      fs.writeFileSync(file, scripts[shell]);
      const result = spawnSync(shell, ['-n', file], { encoding: 'utf8', timeout: 10_000 });
      expect({ shell, status: result.status, stderr: result.stderr }).toEqual({ shell, status: 0, stderr: '' });
      checked.push(shell);
    }
    if (checked.length < 3) process.stderr.write(`docs.test: only ${checked.join(', ')} installed; the other completion scripts were checked structurally only\n`);
    expect(checked).toContain('bash');
  });

  it('bash: the data functions hold each command path\'s subcommands and options', () => {
    for (const v of visibleCommands(program())) {
      const key = v.path.join(' ');
      const subcommands = bash(scripts.bash, `_carillon_commands '${key}'`).split('\n').filter((l) => l !== '');
      expect(subcommands).toEqual(program().createHelp().visibleCommands(v.command).filter((c) => v.command.commands.includes(c)).map((c) => c.name()));
      const options = bash(scripts.bash, `_carillon_options '${key}'`).split('\n');
      for (const flag of v.flags) expect(options).toContain(flag);
      expect(options).toContain('--socket');
    }
  });

  it('bash: completes commands, nested paths, options, choices, across global options', () => {
    const s = scripts.bash;
    expect(bashComplete(s, ['carillon', 'sh'])).toEqual(['show']);
    expect(bashComplete(s, ['carillon', 'show', ''])).toEqual(['members', 'config', 'states']);
    expect(bashComplete(s, ['carillon', '--socket', '/tmp/x.sock', 'show', 'm'])).toEqual(['members']);
    // bash splits --socket=/x at '=' (COMP_WORDBREAKS).
    expect(bashComplete(s, ['carillon', '--socket', '=', '/tmp/x.sock', 'cpg', 'l'])).toEqual(['list', 'listen']);
    expect(bashComplete(s, ['carillon', 'keygen', '--f'])).toEqual(['--force']);
    expect(bashComplete(s, ['carillon', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
    expect(bashComplete(s, ['carillon', 'completion', 'z'])).toEqual(['zsh']);
    // A value, a positional argument: nothing offered (file names come from readline).
    expect(bashComplete(s, ['carillon', 'keygen', '-k', ''])).toEqual([]);
    expect(bashComplete(s, ['carillon', 'cpg', 'send', 'group', ''])).toEqual([]);
    // A word after a positional is not a subcommand: `cmap get list` completes nothing.
    expect(bashComplete(s, ['carillon', 'cmap', 'get', 'list', 'l'])).toEqual([]);
  });

  it('fish: complete -C offers commands, options and choices (where fish is installed)', () => {
    if (!has('fish')) {
      process.stderr.write('docs.test: fish is not installed; fish completion not exercised\n');
      return;
    }
    const file = path.join(tmp, 'carillon.fish');
    fs.writeFileSync(file, scripts.fish);
    const complete = (line: string): string[] => {
      const result = spawnSync('fish', ['--no-config', '-c', `function carillon; end; source ${file}; complete -C '${line}'`], { encoding: 'utf8', timeout: 10_000 });
      expect(result.stderr).toBe('');
      return result.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0] ?? '');
    };
    expect(complete('carillon sh')).toEqual(['show']);
    expect(complete('carillon --socket /x show m')).toEqual(['members']);
    expect(complete('carillon show members --')).toEqual(['--help', '--json', '--socket']);
    expect(complete('carillon completion ')).toEqual(['bash', 'fish', 'zsh']);
  });

  it('a command added to the program is completed without further work', () => {
    const p = program();
    p.command('zzfrob').description('frobnicate').option('--frob-file <file>', 'a file').command('deeper').option('--deep', 'deep');
    const extended = describeCommandTree(p);
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      const script = completionScript(shell, extended);
      expect(script).toContain('zzfrob');
      expect(script).toContain('frob-file');
      expect(script).toContain('deeper');
    }
    expect(bashComplete(completionScript('bash', extended), ['carillon', 'zzfrob', ''])).toEqual(['deeper']);
    expect(bashComplete(completionScript('bash', extended), ['carillon', 'zzfrob', 'deeper', '--d'])).toEqual(['--deep']);
  });

  it('`carillon completion` prints the script; an unknown shell is a usage error', async () => {
    const io = captureIo();
    expect(await runCli(['completion', 'bash'], io)).toBe(0);
    expect(`${io.stdout.join('\n')}\n`).toBe(scripts.bash);
    expect(await runCli(['completion', 'tcsh'], captureIo())).toBe(2);
  });
});

describe('man pages', () => {
  const pages = manPages(describeCommandTree(program()), describeCommandTree(daemon()), '9.9.9');
  const byName = new Map(pages.map((p) => [p.name, p]));
  const escaped = (text: string): string => text.replace(/-/g, '\\-');

  it('one page per top-level command, carillon(1) and carillond(8)', () => {
    const top = visibleCommands(program()).filter((v) => v.path.length === 2).map((v) => `carillon-${v.command.name()}`);
    expect(pages.map((p) => p.name)).toEqual(['carillon', ...top, 'carillond']);
    expect(byName.get('carillond')?.file).toBe('man8/carillond.8');
    expect(byName.get('carillon-show')?.file).toBe('man1/carillon-show.1');
  });

  it('every page has TH, NAME (name \\- description), SYNOPSIS, DESCRIPTION and is ASCII', () => {
    for (const p of pages) {
      expect(p.text).toMatch(new RegExp(`^\\.TH "${escaped(p.name.toUpperCase()).replace(/\\/g, '\\\\')}" "${p.section}" "" "carillon 9\\.9\\.9" "Carillon Manual"$`, 'm'));
      expect(p.text).toMatch(new RegExp(`^\\.SH NAME\\n${escaped(p.name).replace(/\\/g, '\\\\')} \\\\- \\S`, 'm'));
      expect(p.text).toMatch(/^\.SH SYNOPSIS$/m);
      expect(p.text).toMatch(/^\.SH DESCRIPTION$/m);
      expect(p.text).toMatch(/^[\x09\x0a\x20-\x7e]*$/);
      // A line starting with . or ' is a request: only man(7) macros and comments.
      for (const line of p.text.split('\n').filter((l) => /^[.']/.test(l))) {
        expect(line).toMatch(/^\.(TH|SH|SS|PP|TP|RS|RE|nf|fi|br|\\")( |$)/);
      }
    }
  });

  it('each command page documents every command and option below it, and its help sections', () => {
    for (const v of visibleCommands(program()).filter((x) => x.path.length >= 2)) {
      const page = byName.get(`carillon-${v.path[1] ?? ''}`);
      expect(page).toBeDefined();
      const text = page?.text ?? '';
      expect(text).toContain(escaped(v.path.join(' ')));
      for (const flag of v.flags) expect(text).toContain(`\\fB${escaped(flag)}\\fR`);
    }
    const keygen = byName.get('carillon-keygen')?.text ?? '';
    expect(keygen).toMatch(/^\.SH "EXAMPLES"$/m);
    expect(keygen).toMatch(/^\.SH "EXIT STATUS"$/m);
    expect(keygen).toMatch(/^\.SH "FILES"$/m);
    expect(keygen).toContain('carillon keygen \\-k /etc/carillon/authkey.new');
    const root = byName.get('carillon')?.text ?? '';
    for (const v of visibleCommands(program()).filter((x) => x.command.commands.length === 0 && x.path.length >= 2)) {
      expect(root).toContain(`\\fB${escaped(v.path.join(' '))}\\fR`);
    }
    expect(root).toMatch(/^\.SH ENVIRONMENT\n\.TP\n\\fBCARILLON_SOCKET\\fR$/m);
  });

  it('carillond(8) carries its flags, signals and exit statuses', () => {
    const text = byName.get('carillond')?.text ?? '';
    for (const flag of ['-c', '--config', '-f', '--foreground', '-t', '--test', '--local-nodeid', '-v', '--version']) expect(text).toContain(`\\fB${escaped(flag)}\\fR`);
    expect(text).toMatch(/^\.SH "SIGNALS"$/m);
    expect(text).toMatch(/^78 {2}configuration error/m);
    expect(text).toContain('/etc/carillon/corosync.conf');
  });

  it('groff renders every page without a warning (where groff is installed)', () => {
    if (!has('groff')) {
      process.stderr.write('docs.test: groff is not installed; pages checked structurally only\n');
      return;
    }
    for (const p of pages) {
      const result = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: p.text, encoding: 'utf8', timeout: 10_000 });
      expect({ page: p.name, status: result.status, stderr: result.stderr }).toEqual({ page: p.name, status: 0, stderr: '' });
    }
    const rendered = spawnSync('groff', ['-man', '-Tascii', '-P-c', '-P-b', '-P-u'], { input: byName.get('carillon-cpg')?.text ?? '', encoding: 'utf8' }).stdout;
    expect(rendered).toContain('carillon cpg send [options] group message...');
    expect(rendered).toContain('--count n');
  });

  it('`carillon man --dir` writes the pages and drops pages of vanished commands', async () => {
    const dir = path.join(tmp, 'man');
    fs.mkdirSync(path.join(dir, 'man1'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'man1', 'carillon-gone.1'), 'stale');
    fs.writeFileSync(path.join(dir, 'man1', 'other.1'), 'not ours');
    const io = captureIo();
    expect(await runCli(['man', '--dir', dir], io)).toBe(0);
    expect(io.stdout).toEqual(pages.map((p) => path.join(dir, p.file)));
    expect(fs.existsSync(path.join(dir, 'man1', 'carillon-gone.1'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'man1', 'other.1'))).toBe(true);
    const written = fs.readFileSync(path.join(dir, 'man8', 'carillond.8'), 'utf8');
    expect(written).toMatch(/^\.SH NAME\ncarillond \\- /m);
  });

  it('`carillon man PAGE` prints one page; an unknown page is a usage error', async () => {
    const io = captureIo();
    expect(await runCli(['man', 'show'], io)).toBe(0);
    expect(io.stdout.join('\n')).toMatch(/^\.TH "CARILLON\\-SHOW" "1"/m);
    const json = captureIo();
    expect(await runCli(['man', 'carillond', '--json'], json)).toBe(0);
    expect(JSON.parse(json.stdout.join('\n'))).toMatchObject({ name: 'carillond', section: 8, file: 'man8/carillond.8' });
    const bad = captureIo();
    expect(await runCli(['man', 'nosuch'], bad)).toBe(2);
    expect(bad.stderr.join('\n')).toContain("no page 'nosuch'");
  });
});

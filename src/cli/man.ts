// Man pages in roff (man(7) macros) generated from the command trees (architecture.md
// §3.3 "man-page-like --help": `carillon man` and the build write them into deploy/man/).
// carillon(1) lists every command; carillon-COMMAND(1) documents one top-level command
// and everything below it; carillond(8) the daemon. Each page is what --help prints,
// rearranged: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS, then the sections the
// commands' addHelpText('after', ...) text carries (EXAMPLES, FILES, ENVIRONMENT,
// SIGNALS, EXIT STATUS ...: any line in capitals is a heading).
//
// The text is plain ASCII: backslashes, minus signs and every non-ASCII character are
// written as roff escapes (\e, \-, \[u2192]), so groff and mandoc render it the same
// without preconv, and a copied `--key-file` is still two ASCII minus signs.
// Indented help text (examples, exit status tables) is kept as it is, unfilled.

import type { ArgumentSpec, CommandSpec, OptionSpec } from './command-tree';
import { flattenCommands } from './command-tree';

export interface ManPage {
  /** carillon, carillon-show, carillond. */
  readonly name: string;
  readonly section: 1 | 8;
  /** Relative to a man directory: man1/carillon-show.1. */
  readonly file: string;
  readonly text: string;
}

const MANUAL = 'Carillon Manual';

/** Escapes text for a roff text line or macro argument. */
function roffText(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\e';
    else if (ch === '-') out += '\\-';
    else if (ch === '\t') out += '        ';
    else if (code < 0x20 || code > 0x7e) out += `\\[u${code.toString(16).toUpperCase().padStart(4, '0')}]`;
    else out += ch;
  }
  return out;
}

/** A text line: roff treats a leading . or ' as a request, \& defuses it. */
function roffLine(text: string): string {
  const escaped = roffText(text);
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

/** A double-quoted macro argument. */
function roffArg(text: string): string {
  return `"${roffText(text).replace(/"/g, '\\(dq')}"`;
}

function bold(text: string): string {
  return `\\fB${roffText(text)}\\fR`;
}

function italic(text: string): string {
  return `\\fI${roffText(text)}\\fR`;
}

/** A description as a sentence: a plain lower-case first word is capitalized (not
 * res_corosync's or cpg), and a full stop added. */
function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return '';
  const firstWord = trimmed.split(/\s/, 1)[0] ?? '';
  const capital = /^[a-z]+[,:;]?$/.test(firstWord) && !/^(cpg|cmap|carillond?)\b/.test(firstWord) ? trimmed.charAt(0).toUpperCase() + trimmed.slice(1) : trimmed;
  return /[.!?:]$/.test(capital) ? capital : `${capital}.`;
}

// ---------------------------------------------------------------------------------
// The text of addHelpText('after', ...): headings and blocks.

interface HelpSection {
  /** null: the text before the first heading. */
  readonly heading: string | null;
  readonly lines: readonly string[];
}

const HEADING = /^[A-Z][A-Z0-9 ]*[A-Z0-9]$/;

function splitSections(text: string): HelpSection[] {
  const sections: Array<{ heading: string | null; lines: string[] }> = [{ heading: null, lines: [] }];
  for (const line of text.split('\n')) {
    if (HEADING.test(line)) sections.push({ heading: line, lines: [] });
    else sections[sections.length - 1]?.lines.push(line.replace(/\s+$/, ''));
  }
  return sections.filter((s) => s.heading !== null || s.lines.some((l) => l !== ''));
}

/** Prose runs become filled paragraphs; indented runs stay as written (nf), indented. */
function renderBlocks(lines: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (line === '') {
      i++;
      continue;
    }
    const indented = /^\s/.test(line);
    const run: string[] = [];
    while (i < lines.length && (lines[i] ?? '') !== '' && /^\s/.test(lines[i] ?? '') === indented) run.push(lines[i++] ?? '');
    if (!indented) {
      out.push('.PP', ...run.map((l) => roffLine(l.trim())));
      continue;
    }
    const indent = Math.min(...run.map((l) => /^\s*/.exec(l)?.[0].length ?? 0));
    out.push('.PP', '.RS 4', '.nf', ...run.map((l) => roffLine(l.slice(indent))), '.fi', '.RE');
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Commands, options, arguments.

function argumentTerm(argument: ArgumentSpec): string {
  const name = `${italic(argument.name)}${argument.variadic ? '...' : ''}`;
  return argument.required ? name : `[${name}]`;
}

function optionTerm(option: OptionSpec): string {
  const tokens = option.flags.split(/[ ,|]+/).filter((t) => t !== '');
  const flags = tokens.filter((t) => t.startsWith('-')).map(bold);
  const values = tokens
    .filter((t) => !t.startsWith('-'))
    .map((t) => {
      const inner = t.replace(/^[<[]|[>\]]$/g, '');
      return t.startsWith('[') ? `[${italic(inner)}]` : italic(inner);
    });
  return [flags.join(', '), ...values].join(' ');
}

function synopsis(spec: CommandSpec): string {
  const hasOptions = spec.options.some((o) => o.long !== '--help' && o.long !== '--version');
  return [bold(spec.path.join(' ')), ...(hasOptions ? [`[${italic('options')}]`] : []), ...spec.arguments.map(argumentTerm)].join(' ');
}

/** .TP items; the text is written as --help shows it (option descriptions start in lower case). */
function definitionList(items: ReadonlyArray<readonly [string, string]>): string[] {
  return items.flatMap(([term, text]) => ['.TP', term, roffLine(text.trim())]);
}

function optionList(options: readonly OptionSpec[]): string[] {
  return definitionList(options.map((o) => [optionTerm(o), o.description] as const));
}

function argumentList(args: readonly ArgumentSpec[]): string[] {
  return definitionList(args.map((a) => [argumentTerm(a), a.description] as const));
}

/** Leaves of the subtree (the command itself when it has no subcommands). */
function leaves(spec: CommandSpec): CommandSpec[] {
  return spec.subcommands.length === 0 ? [spec] : spec.subcommands.flatMap(leaves);
}

function pageName(spec: CommandSpec): string {
  return spec.path.join('-');
}

function header(name: string, section: 1 | 8, description: string, version: string): string[] {
  return [
    `.\\" Generated by \`carillon man\` from the command tree; do not edit.`,
    `.TH ${roffArg(name.toUpperCase())} ${roffArg(String(section))} "" ${roffArg(version)} ${roffArg(MANUAL)}`,
    '.SH NAME',
    `${roffText(name)} \\- ${roffText(description.trim())}`,
  ];
}

function seeAlso(pages: readonly string[]): string[] {
  return pages.length === 0 ? [] : ['.SH "SEE ALSO"', pages.map((p) => p.replace(/^(.*)\((\d)\)$/, (_m, n: string, s: string) => `${bold(n)}(${s})`)).join(',\n')];
}

/** A command documented within a group page: .SS title, then its parts as paragraphs. */
function commandSubsection(spec: CommandSpec): string[] {
  const sections = splitSections(spec.afterHelp);
  const out = ['.SS', synopsis(spec), '.PP', roffLine(sentence(spec.description))];
  for (const section of sections.filter((s) => s.heading === null)) out.push(...renderBlocks(section.lines));
  if (spec.arguments.length > 0) out.push('.PP', bold('Arguments:'), '.RS 4', ...argumentList(spec.arguments), '.RE');
  if (spec.options.length > 0) out.push('.PP', bold('Options:'), '.RS 4', ...optionList(spec.options), '.RE');
  for (const section of sections.filter((s) => s.heading !== null)) out.push('.PP', bold(section.heading ?? ''), '.RS 4', ...renderBlocks(section.lines), '.RE');
  return out;
}

/** The page of a command with no subcommands: its help sections are the page's sections. */
function leafPage(spec: CommandSpec, section: 1 | 8, version: string, related: readonly string[]): string[] {
  const sections = splitSections(spec.afterHelp);
  const out = [...header(pageName(spec), section, spec.description, version), '.SH SYNOPSIS', synopsis(spec), '.SH DESCRIPTION', '.PP', roffLine(sentence(spec.description))];
  for (const s of sections.filter((x) => x.heading === null)) out.push(...renderBlocks(s.lines));
  if (spec.arguments.length > 0) out.push('.SH ARGUMENTS', ...argumentList(spec.arguments));
  if (spec.options.length > 0) out.push('.SH OPTIONS', ...optionList(spec.options));
  if (spec.inheritedOptions.length > 0) out.push('.SH "GLOBAL OPTIONS"', ...optionList(spec.inheritedOptions));
  for (const s of sections.filter((x) => x.heading !== null)) out.push(`.SH ${roffArg(s.heading ?? '')}`, ...renderBlocks(s.lines));
  out.push(...seeAlso(related));
  return out;
}

/** The page of a command group: every command below it in COMMANDS. */
function groupPage(spec: CommandSpec, version: string, related: readonly string[]): string[] {
  const sections = splitSections(spec.afterHelp);
  const out = [...header(pageName(spec), 1, spec.description, version), '.SH SYNOPSIS'];
  leaves(spec).forEach((leaf, i) => out.push(...(i > 0 ? ['.br'] : []), synopsis(leaf)));
  out.push('.SH DESCRIPTION', '.PP', roffLine(sentence(spec.description)));
  for (const s of sections.filter((x) => x.heading === null)) out.push(...renderBlocks(s.lines));
  const ownOptions = spec.options.filter((o) => o.long !== '--help');
  if (ownOptions.length > 0) out.push('.SH OPTIONS', ...optionList(ownOptions));
  out.push('.SH COMMANDS');
  for (const command of flattenCommands(spec).slice(1)) {
    if (command.subcommands.length === 0 || command.afterHelp !== '') out.push(...commandSubsection(command));
  }
  if (spec.inheritedOptions.length > 0) out.push('.SH "GLOBAL OPTIONS"', ...optionList(spec.inheritedOptions));
  for (const s of sections.filter((x) => x.heading !== null)) out.push(`.SH ${roffArg(s.heading ?? '')}`, ...renderBlocks(s.lines));
  out.push(...seeAlso(related));
  return out;
}

/** carillon(1): global options and every command, each pointing at its own page. */
function rootPage(root: CommandSpec, version: string, related: readonly string[]): string[] {
  const sections = splitSections(root.afterHelp);
  const out = [...header(root.name, 1, root.description, version), '.SH SYNOPSIS'];
  out.push(`${bold(root.name)} [${italic('global options')}] ${italic('command')} [${italic('options')}] [${italic('arguments')}]`);
  out.push('.SH DESCRIPTION', '.PP', roffLine(sentence(root.description)));
  for (const s of sections.filter((x) => x.heading === null)) out.push(...renderBlocks(s.lines));
  out.push('.PP', roffLine(`Every command prints its own manual with --help; ${root.name}-COMMAND(1) has the same text.`));
  if (root.options.length > 0) out.push('.SH "GLOBAL OPTIONS"', ...optionList(root.options));
  out.push('.SH COMMANDS');
  for (const top of root.subcommands) {
    for (const leaf of leaves(top)) {
      out.push('.TP', synopsis(leaf), `${roffLine(sentence(leaf.description))} See ${bold(pageName(top))}(1).`);
    }
  }
  const headings = new Set(sections.map((s) => s.heading));
  const env = flattenCommands(root).flatMap((c) => c.options.filter((o) => o.envVar !== null));
  if (env.length > 0 && !headings.has('ENVIRONMENT')) {
    out.push('.SH ENVIRONMENT', ...definitionList(env.map((o) => [bold(o.envVar ?? ''), `the default of ${o.long ?? o.short ?? o.flags}: ${o.plainDescription}`] as const)));
  }
  for (const s of sections.filter((x) => x.heading !== null)) out.push(`.SH ${roffArg(s.heading ?? '')}`, ...renderBlocks(s.lines));
  out.push(...seeAlso(related));
  return out;
}

function page(name: string, section: 1 | 8, lines: readonly string[]): ManPage {
  return { name, section, file: `man${section}/${name}.${section}`, text: `${lines.join('\n')}\n` };
}

/**
 * Every page: carillon(1) from the CLI tree `cli`, carillon-COMMAND(1) for each of its
 * visible top-level commands, and carillond(8) from the daemon's tree `daemon`.
 */
export function manPages(cli: CommandSpec, daemon: CommandSpec, version: string): ManPage[] {
  const source = `${cli.name} ${version}`;
  const commandPages = cli.subcommands.map((c) => `${pageName(c)}(1)`);
  const all = [`${cli.name}(1)`, ...commandPages, `${daemon.name}(8)`];
  const others = (self: string): string[] => all.filter((p) => p !== self);
  const pages = [page(cli.name, 1, rootPage(cli, source, others(`${cli.name}(1)`)))];
  for (const command of cli.subcommands) {
    const related = [`${cli.name}(1)`, `${daemon.name}(8)`];
    const lines = command.subcommands.length === 0 ? leafPage(command, 1, source, related) : groupPage(command, source, related);
    pages.push(page(pageName(command), 1, lines));
  }
  pages.push(page(daemon.name, 8, leafPage(daemon, 8, source, [`${cli.name}(1)`])));
  return pages;
}

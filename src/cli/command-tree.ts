// A plain description of a commander command tree (architecture.md §3.3 "Shell
// completion", "man-page-like --help"): the completion scripts (cli/completion.ts) and
// the man pages (cli/man.ts) are generated from it, so both follow whatever commands
// and options program.ts registers, with nothing listed by hand.
//
// Hidden commands and options (the `totem` test hooks) are left out, as commander's
// --help leaves them out; so is the implicit `help` command (every page documents
// -h/--help instead). The text that addHelpText('after', ...) adds to a command's help
// (EXAMPLES, EXIT STATUS ...) is captured by emitting the same 'afterHelp' event that
// commander's outputHelp() emits, so it is byte for byte what --help prints.

import { EventEmitter } from 'node:events';
import type { Argument, Command, Option } from 'commander';

export interface OptionSpec {
  /** As declared: `-k, --key-file <file>`. */
  readonly flags: string;
  /** `-k`, or null. */
  readonly short: string | null;
  /** `--key-file`, or null. */
  readonly long: string | null;
  /** The description with commander's (default: ..., env: ...) suffix, as --help shows it. */
  readonly description: string;
  /** The description as declared, without that suffix. */
  readonly plainDescription: string;
  /** The value's name (`file`), or null when the option takes no value. */
  readonly valueName: string | null;
  /** `[value]` rather than `<value>`. */
  readonly valueOptional: boolean;
  /** Allowed values (Option.choices), or null. */
  readonly choices: readonly string[] | null;
  /** The environment variable that sets it (Option.env), or null. */
  readonly envVar: string | null;
}

export interface ArgumentSpec {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  readonly variadic: boolean;
  readonly choices: readonly string[] | null;
}

export interface CommandSpec {
  readonly name: string;
  /** From the root: ['carillon', 'show', 'members']. */
  readonly path: readonly string[];
  readonly description: string;
  readonly arguments: readonly ArgumentSpec[];
  /** Its own visible options, -h/--help and -v/--version included. */
  readonly options: readonly OptionSpec[];
  /** Options of its ancestors, which commander also accepts after this command's name. */
  readonly inheritedOptions: readonly OptionSpec[];
  readonly subcommands: readonly CommandSpec[];
  /** What addHelpText('after', ...) prints, without the leading and trailing blank lines. */
  readonly afterHelp: string;
}

function optionSpec(option: Option, describe: (option: Option) => string): OptionSpec {
  const value = /[<[]([^>\]]+)[>\]]/.exec(option.flags);
  const valueName = value?.[1]?.replace(/\.\.\.$/, '') ?? null;
  return {
    flags: option.flags,
    short: option.short ?? null,
    long: option.long ?? null,
    description: describe(option),
    plainDescription: option.description,
    valueName,
    valueOptional: option.optional,
    choices: option.argChoices ?? null,
    envVar: option.envVar ?? null,
  };
}

function argumentSpec(argument: Argument): ArgumentSpec {
  return {
    name: argument.name(),
    description: argument.description,
    required: argument.required,
    variadic: argument.variadic,
    choices: argument.argChoices ?? null,
  };
}

/** The text the command's addHelpText('after', ...) calls write, in registration order. */
function afterHelpOf(command: Command): string {
  // commander implements Command with EventEmitter (its typings only declare on()).
  if (!(command instanceof EventEmitter)) throw new Error(`${command.name()}: commander Command is not an EventEmitter`);
  let text = '';
  command.emit('afterHelp', {
    error: false,
    command,
    write: (chunk: string) => {
      text += chunk;
    },
  });
  return text.replace(/^\s*\n/, '').replace(/\s+$/, '');
}

function describe(command: Command, parentPath: readonly string[], inherited: readonly OptionSpec[]): CommandSpec {
  const help = command.createHelp();
  const describeOption = (option: Option): string => help.optionDescription(option);
  const options = help.visibleOptions(command).map((o) => optionSpec(o, describeOption));
  const path = [...parentPath, command.name()];
  // The implicit help command is not in command.commands; visibleCommands() adds it.
  const children = help.visibleCommands(command).filter((c) => command.commands.includes(c));
  const own = new Set(options.flatMap((o) => [o.short, o.long]).filter((f) => f !== null));
  const passedDown = [...inherited.filter((o) => !own.has(o.short ?? '') && !own.has(o.long ?? '')), ...options.filter((o) => o.long !== '--help' && o.long !== '--version')];
  return {
    name: command.name(),
    path,
    description: command.description(),
    arguments: command.registeredArguments.map(argumentSpec),
    options,
    inheritedOptions: inherited,
    subcommands: children.map((c) => describe(c, path, passedDown)),
    afterHelp: afterHelpOf(command),
  };
}

/** Describes `root` and every visible command below it. */
export function describeCommandTree(root: Command): CommandSpec {
  return describe(root, [], []);
}

/** Every command of the tree, depth first, the root first. */
export function flattenCommands(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(flattenCommands)];
}

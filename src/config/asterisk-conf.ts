// Asterisk configuration dialect → positioned sections (architecture.md §2.9 step 1,
// res-corosync.md §1.7). res_corosync.conf is read with Asterisk's generic config reader
// (main/config.c, config_text_file_load / process_text_line); this file accepts the
// same grammar, line by line:
//
//   - `;` starts a comment to the end of the line; `\;` is a literal semicolon (the
//     backslash is dropped); `;--` (but not `;---`) opens a block comment that `--;`
//     closes, possibly lines later; block comments nest. Text before a block comment
//     and after its end on the same line is kept, joined, as Asterisk does;
//   - blanks (space, tab, CR, VT, FF) around a line, key or value are trimmed;
//   - `[name]` opens a section; `[name](opts)` takes a comma list right after `]`:
//     `!` marks a template (never used directly), `+` appends to the first existing
//     section of that name, any other word inherits (copies, at this point) the
//     variables of the first section of that name, so inherited variables come first;
//     options are not trimmed (Asterisk looks up ` tmpl` literally);
//   - `key = value` and `key => value` (the object form, recorded) split at the first
//     `=`; repeated keys are all kept, in order;
//   - `#include file`, `#include "file"`, `#include <file>`: the file is read through
//     the injected reader, resolved relative to the including file (Asterisk resolves
//     relative names against its config directory, which is where res_corosync.conf and
//     its includes live anyway); an included file starts in the including file's
//     current section, and the including file continues in its own section afterwards;
//     `#tryinclude` tolerates a missing file.
//
// Deliberately stricter than Asterisk, because each of these silently changes what the
// bridge does (Asterisk logs a warning and goes on): a line without `=`, an unknown
// directive, `#exec` / `#tryexec` (never run: Carillon does not execute programs named in
// a config file), an unterminated block comment (it swallows the rest of the file), a
// variable before the first section, `+=` (Asterisk's value concatenation, which we do
// not support), an include cycle. All are errors; every error is reported with its
// file:line:col, and parsing goes on so that all of them are found at once.
//
// Limits (errors, never crashes): file size, line length, number of sections and
// variables (inherited copies included), include depth and number of files read, block
// comment nesting (Asterisk's MAX_NESTED_COMMENTS is 128), section name length (Asterisk
// stores at most 79 characters).
//
// Pure: no node:* imports; the reader is the only I/O.

import { type Diagnostic, DiagnosticCode, type DiagnosticSeverity, type SourcePosition, compareDiagnostics } from './diagnostics';

/** Returns a file's text, or null when it does not exist or cannot be read. */
export type ConfigReader = (path: string) => string | null;

export interface AsteriskConfLimits {
  /** Characters per file (a reader may stop reading one past it). */
  readonly fileCharsMax: number;
  readonly lineCharsMax: number;
  readonly sectionsMax: number;
  /** Variables in all sections, inherited copies included. */
  readonly variablesMax: number;
  /** Nesting of #include (the top file is depth 0). */
  readonly includeDepthMax: number;
  /** Files read in total, the top file included (a diamond of includes counts twice). */
  readonly filesMax: number;
}

export const DEFAULT_ASTERISK_CONF_LIMITS: AsteriskConfLimits = {
  fileCharsMax: 1024 * 1024,
  lineCharsMax: 8190,
  sectionsMax: 1000,
  variablesMax: 10_000,
  includeDepthMax: 10,
  filesMax: 100,
};

/** Asterisk's MAX_NESTED_COMMENTS. */
const BLOCK_COMMENT_NESTING_MAX = 128;
/** Asterisk keeps section names in char[80]. */
const SECTION_NAME_CHARS_MAX = 79;

export type AsteriskConfOperator = '=' | '=>';

export interface AsteriskConfVariable {
  readonly key: string;
  readonly value: string;
  readonly operator: AsteriskConfOperator;
  /** Position of the key. */
  readonly position: SourcePosition;
  /** Position of the value's first character (just after the operator when it is empty). */
  readonly valuePosition: SourcePosition;
  /** The file the variable is written in (an included file, or the template's file). */
  readonly file: string;
  /** True for a copy made by inheritance: position and file are those in the template. */
  readonly inherited: boolean;
}

export interface AsteriskConfSection {
  /** As written between the brackets (Asterisk does not trim it). */
  readonly name: string;
  /** Position of the name (of the `]` when the name is empty). */
  readonly position: SourcePosition;
  readonly file: string;
  /** `(!)`: a template, only there to be inherited. */
  readonly templateOnly: boolean;
  /** The sections named in the option list, in order (found or not). */
  readonly inherits: readonly string[];
  readonly variables: readonly AsteriskConfVariable[];
}

export interface AsteriskConfParseResult {
  readonly sections: readonly AsteriskConfSection[];
  /** Errors and warnings of every file, in file order (see `files`), then by position. */
  readonly diagnostics: Diagnostic[];
  /** Every file read, the top file first, each once, in the order first read. */
  readonly files: readonly string[];
}

interface SectionBuilder {
  name: string;
  position: SourcePosition;
  file: string;
  templateOnly: boolean;
  inherits: string[];
  variables: AsteriskConfVariable[];
}

/** One physical line with its comments removed; cols[i] is the 1-based column of text[i]. */
interface CleanLine {
  readonly text: string;
  readonly cols: readonly number[];
  readonly line: number;
  /** Length of the raw line, for positions just past the end. */
  readonly rawLength: number;
}

const BLANK = /[ \t\r\v\f]/;

function isBlank(c: string | undefined): boolean {
  return c !== undefined && BLANK.test(c);
}

/** Directory part of a slash-separated path ('' for a bare name). */
function dirname(path: string): string {
  const slash = path.lastIndexOf('/');
  if (slash < 0) return '';
  return slash === 0 ? '/' : path.slice(0, slash);
}

/** Removes `.` and `x/..` segments so that a cycle is seen whatever the spelling. */
function normalizePath(path: string): string {
  const absolute = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (part !== '..' || !absolute) out.push(part);
  }
  const joined = out.join('/');
  return absolute ? `/${joined}` : joined === '' ? '.' : joined;
}

/** Where `#include target` in file `from` points: absolute, or relative to from's directory. */
export function resolveIncludePath(from: string, target: string): string {
  if (target.startsWith('/')) return normalizePath(target);
  const dir = dirname(from);
  return normalizePath(dir === '' ? target : `${dir}/${target}`);
}

class Parser {
  readonly sections: SectionBuilder[] = [];
  readonly diagnostics: Diagnostic[] = [];
  readonly files: string[] = [];
  private variableCount = 0;
  private filesRead = 0;
  private readonly limitsReported = new Set<string>();

  private readonly read: ConfigReader;
  private readonly limits: AsteriskConfLimits;

  constructor(read: ConfigReader, limits: AsteriskConfLimits) {
    this.read = read;
    this.limits = limits;
  }

  report(severity: DiagnosticSeverity, code: DiagnosticCode, file: string, at: SourcePosition, message: string, hint?: string): void {
    const base = { severity, code, file, line: at.line, col: at.col, message };
    this.diagnostics.push(hint === undefined ? base : { ...base, hint });
  }

  /** Reports a limit once (per limit), so that a runaway file gives one error, not thousands. */
  private limitReached(name: string, file: string, at: SourcePosition, message: string): void {
    if (this.limitsReported.has(name)) return;
    this.limitsReported.add(name);
    this.report('error', DiagnosticCode.syntax, file, at, message);
  }

  /**
   * Reads and parses one file. `current` is the section the includer is in (null for
   * the top file); `stack` the files being included, outermost first.
   */
  loadFile(file: string, text: string, stack: readonly string[], current: SectionBuilder | null): void {
    if (!this.files.includes(file)) this.files.push(file);
    this.filesRead++;
    if (text.length > this.limits.fileCharsMax) {
      this.report('error', DiagnosticCode.syntax, file, { line: 1, col: 1 }, `file too large: more than ${this.limits.fileCharsMax} characters`);
      return;
    }
    let body = text;
    if (body.startsWith('\uFEFF')) {
      this.report('error', DiagnosticCode.syntax, file, { line: 1, col: 1 }, 'file starts with a byte order mark (BOM), which Asterisk reads as part of the first line', 'save the file as UTF-8 without BOM');
      body = body.slice(1);
    }
    const state = { current, commentStarts: [] as SourcePosition[] };
    body.split('\n').forEach((raw, i) => {
      const lineNo = i + 1;
      if (raw.length > this.limits.lineCharsMax) {
        this.report('error', DiagnosticCode.syntax, file, { line: lineNo, col: 1 }, `line too long: more than ${this.limits.lineCharsMax} characters`);
        return;
      }
      const clean = this.stripComments(raw, lineNo, file, state.commentStarts);
      state.current = this.processLine(clean, file, stack, state.current);
    });
    const unterminated = state.commentStarts[0];
    if (unterminated !== undefined) {
      this.report('error', DiagnosticCode.syntax, file, unterminated, "block comment ';--' is never closed: the rest of the file is commented out", "close it with '--;'");
    }
  }

  /**
   * Removes comments from one line, tracking block comments across lines in
   * `commentStarts` (one entry per open nesting level).
   */
  private stripComments(raw: string, lineNo: number, file: string, commentStarts: SourcePosition[]): CleanLine {
    let text = '';
    const cols: number[] = [];
    let j = 0;
    while (j < raw.length) {
      const c = raw[j];
      const opensBlock = c === ';' && raw[j + 1] === '-' && raw[j + 2] === '-' && raw[j + 3] !== '-';
      if (opensBlock) {
        if (commentStarts.length < BLOCK_COMMENT_NESTING_MAX) commentStarts.push({ line: lineNo, col: j + 1 });
        else this.report('error', DiagnosticCode.syntax, file, { line: lineNo, col: j + 1 }, `block comments nested more than ${BLOCK_COMMENT_NESTING_MAX} deep`);
        j += 3;
        continue;
      }
      if (commentStarts.length > 0) {
        if (c === '-' && raw[j + 1] === '-' && raw[j + 2] === ';') {
          commentStarts.pop();
          j += 3;
        } else {
          j++;
        }
        continue;
      }
      if (c === '\\' && raw[j + 1] === ';') {
        text += ';';
        cols.push(j + 1);
        j += 2;
        continue;
      }
      if (c === ';') {
        if (j >= 2 && raw[j - 1] === '-' && raw[j - 2] === '-') {
          this.report('warning', DiagnosticCode.syntax, file, { line: lineNo, col: j - 1 }, "'--;' outside a block comment: read as '--' followed by a ';' comment", "block comments start with ';--'");
        }
        break;
      }
      text += c;
      cols.push(j + 1);
      j++;
    }
    return { text, cols, line: lineNo, rawLength: raw.length };
  }

  /** Handles one comment-free line; returns the section that following lines belong to. */
  private processLine(clean: CleanLine, file: string, stack: readonly string[], current: SectionBuilder | null): SectionBuilder | null {
    let start = 0;
    let end = clean.text.length;
    while (start < end && isBlank(clean.text[start])) start++;
    while (end > start && isBlank(clean.text[end - 1])) end--;
    if (start === end) return current;
    const first = clean.text[start];
    if (first === '[') return this.header(clean, start, end, file);
    if (first === '#') {
      this.directive(clean, start, end, file, stack, current);
      return current;
    }
    this.variable(clean, start, end, file, current);
    return current;
  }

  private pos(clean: CleanLine, index: number): SourcePosition {
    const col = clean.cols[index] ?? (clean.cols.length > 0 ? (clean.cols[clean.cols.length - 1] ?? 0) + 1 : clean.rawLength + 1);
    return { line: clean.line, col };
  }

  /** A section header: `[name]`, optionally followed directly by `(options)`. */
  private header(clean: CleanLine, start: number, end: number, file: string): SectionBuilder {
    const text = clean.text;
    const close = text.indexOf(']', start);
    const section: SectionBuilder = { name: '', position: this.pos(clean, start + 1), file, templateOnly: false, inherits: [], variables: [] };
    if (close < 0 || close >= end) {
      this.report('error', DiagnosticCode.syntax, file, this.pos(clean, start), "section header without closing ']'");
      section.name = text.slice(start + 1, end);
      return this.addSection(section, clean, start);
    }
    section.name = text.slice(start + 1, close);
    if (section.name === '') {
      section.position = this.pos(clean, close);
      this.report('error', DiagnosticCode.syntax, file, section.position, 'empty section name');
    } else if (section.name.length > SECTION_NAME_CHARS_MAX) {
      this.report('error', DiagnosticCode.syntax, file, section.position, `section name longer than ${SECTION_NAME_CHARS_MAX} characters (Asterisk would cut it)`);
    }
    let rest = close + 1;
    if (text[rest] === '(') {
      const closeParen = text.indexOf(')', rest);
      if (closeParen < 0 || closeParen >= end) {
        this.report('error', DiagnosticCode.syntax, file, this.pos(clean, rest), "section options without closing ')'");
        return this.addSection(section, clean, start);
      }
      const target = this.applyOptions(section, clean, rest + 1, closeParen, file);
      if (target !== null) return target;
      rest = closeParen + 1;
    }
    while (rest < end && isBlank(text[rest])) rest++;
    if (rest < end) {
      const hint = text[rest] === '(' ? "options must follow ']' directly, as in [name](!)" : undefined;
      this.report('warning', DiagnosticCode.syntax, file, this.pos(clean, rest), "text after the section header is ignored (as Asterisk does)", hint);
    }
    return this.addSection(section, clean, start);
  }

  /**
   * Applies `(opt,opt,...)` to a new section. Returns the existing section when the
   * options contain `+` (the new one is then merged into it), else null.
   */
  private applyOptions(section: SectionBuilder, clean: CleanLine, from: number, to: number, file: string): SectionBuilder | null {
    let appendTo: SectionBuilder | null = null;
    let optionStart = from;
    for (const option of clean.text.slice(from, to).split(',')) {
      const at = this.pos(clean, option === '' ? Math.min(optionStart, to) : optionStart);
      optionStart += option.length + 1;
      if (option === '!') {
        section.templateOnly = true;
      } else if (option === '+') {
        appendTo = this.findSection(section.name);
        if (appendTo === null) {
          this.report('error', DiagnosticCode.syntax, file, at, `'+' appends to section '${section.name}', but there is none before this line`);
        }
      } else if (option.startsWith('+')) {
        this.report('error', DiagnosticCode.syntax, file, at, `section filters ('${option}') are not supported`);
      } else if (option === '') {
        this.report('error', DiagnosticCode.syntax, file, at, 'empty section option', "use '!' for a template, '+' to append, or a template name");
      } else {
        section.inherits.push(option);
        this.inherit(section, option, at, file);
      }
    }
    if (appendTo === null) return null;
    appendTo.templateOnly ||= section.templateOnly;
    for (const variable of section.variables) appendTo.variables.push(variable);
    return appendTo;
  }

  /** Asterisk finds sections by name case-insensitively, the first one first. */
  private findSection(name: string): SectionBuilder | null {
    const lower = name.toLowerCase();
    return this.sections.find((s) => s.name.toLowerCase() === lower) ?? null;
  }

  private inherit(section: SectionBuilder, baseName: string, at: SourcePosition, file: string): void {
    const base = this.findSection(baseName);
    if (base === null) {
      const trimmed = baseName.trim();
      const hint = trimmed !== baseName && this.findSection(trimmed) !== null ? `remove the blanks: Asterisk looks for '${baseName}' literally` : undefined;
      this.report('error', DiagnosticCode.syntax, file, at, `inherits from section '${baseName}', but there is none before this line`, hint);
      return;
    }
    for (const variable of base.variables) {
      if (!this.countVariable(file, at)) return;
      section.variables.push(variable.inherited ? variable : { ...variable, inherited: true });
    }
  }

  private countVariable(file: string, at: SourcePosition): boolean {
    if (this.variableCount >= this.limits.variablesMax) {
      this.limitReached('variables', file, at, `too many variables: more than ${this.limits.variablesMax}`);
      return false;
    }
    this.variableCount++;
    return true;
  }

  private addSection(section: SectionBuilder, clean: CleanLine, start: number): SectionBuilder {
    if (this.sections.length >= this.limits.sectionsMax) {
      // Still returned, so that its variables do not each report "no section".
      this.limitReached('sections', section.file, this.pos(clean, start), `too many sections: more than ${this.limits.sectionsMax}`);
      return section;
    }
    this.sections.push(section);
    return section;
  }

  private variable(clean: CleanLine, start: number, end: number, file: string, current: SectionBuilder | null): void {
    const text = clean.text;
    const eq = text.indexOf('=', start);
    if (eq < 0 || eq >= end) {
      this.report('error', DiagnosticCode.syntax, file, this.pos(clean, start), "expected 'key = value', '[section]' or a '#' directive", text.slice(start, end).includes(':') ? "Asterisk configs write 'key = value', not 'key: value'" : undefined);
      return;
    }
    if (eq > start && text[eq - 1] === '+') {
      this.report('error', DiagnosticCode.syntax, file, this.pos(clean, eq - 1), "'+=' (appending to the previous value) is not supported", "write the whole value with '='");
      return;
    }
    const operator: AsteriskConfOperator = text[eq + 1] === '>' ? '=>' : '=';
    let keyEnd = eq;
    while (keyEnd > start && isBlank(text[keyEnd - 1])) keyEnd--;
    let valueStart = eq + operator.length;
    while (valueStart < end && isBlank(text[valueStart])) valueStart++;
    const key = text.slice(start, keyEnd);
    const position = this.pos(clean, start);
    if (key === '') {
      this.report('error', DiagnosticCode.syntax, file, position, `missing key name before '${operator}'`);
      return;
    }
    if (current === null) {
      this.report('error', DiagnosticCode.syntax, file, position, `'${key}' is not in a section`, "start the file with a section header such as '[general]'");
      return;
    }
    if (!this.countVariable(file, position)) return;
    const valuePosition = valueStart < end ? this.pos(clean, valueStart) : { line: clean.line, col: (clean.cols[eq + operator.length - 1] ?? 0) + 1 };
    current.variables.push({ key, value: text.slice(valueStart, end), operator, position, valuePosition, file, inherited: false });
  }

  private directive(clean: CleanLine, start: number, end: number, file: string, stack: readonly string[], current: SectionBuilder | null): void {
    const text = clean.text;
    let nameEnd = start + 1;
    while (nameEnd < end && !isBlank(text[nameEnd])) nameEnd++;
    const name = text.slice(start + 1, nameEnd).toLowerCase();
    const at = this.pos(clean, start);
    if (name === 'exec' || name === 'tryexec') {
      this.report('error', DiagnosticCode.unsupported, file, at, `#${name} is refused: Carillon never runs programs named in a configuration file`, 'write the output of the program into a file and #include it');
      return;
    }
    if (name !== 'include' && name !== 'tryinclude') {
      this.report('error', DiagnosticCode.syntax, file, at, `unknown directive '#${text.slice(start + 1, nameEnd)}'`, 'Asterisk knows #include, #tryinclude, #exec and #tryexec');
      return;
    }
    let argStart = nameEnd;
    while (argStart < end && isBlank(text[argStart])) argStart++;
    if (argStart === end) {
      this.report('error', DiagnosticCode.syntax, file, at, `#${name} needs a file name`);
      return;
    }
    let target = text.slice(argStart, end);
    const quote = target[0] === '"' ? '"' : target[0] === '<' ? '>' : null;
    if (quote !== null && target.length > 1 && target.endsWith(quote)) target = target.slice(1, -1);
    this.include(file, target, this.pos(clean, argStart), name === 'tryinclude', stack, current);
  }

  private include(file: string, target: string, at: SourcePosition, optional: boolean, stack: readonly string[], current: SectionBuilder | null): void {
    if (target === '') {
      this.report('error', DiagnosticCode.syntax, file, at, 'empty file name');
      return;
    }
    const path = resolveIncludePath(file, target);
    const chain = [...stack, file];
    if (chain.includes(path)) {
      this.report('error', DiagnosticCode.syntax, file, at, `include cycle: ${[...chain.slice(chain.indexOf(path)), path].join(' -> ')}`);
      return;
    }
    if (stack.length >= this.limits.includeDepthMax) {
      this.report('error', DiagnosticCode.syntax, file, at, `includes nested more than ${this.limits.includeDepthMax} deep`);
      return;
    }
    if (this.filesRead >= this.limits.filesMax) {
      this.limitReached('files', file, at, `too many files: more than ${this.limits.filesMax} read through #include`);
      return;
    }
    const text = this.read(path);
    if (text === null) {
      if (!optional) this.report('error', DiagnosticCode.missing, file, at, `cannot read included file '${path}'`, "use #tryinclude for a file that may be absent");
      return;
    }
    this.loadFile(path, text, chain, current);
  }
}

function freezeSection(s: SectionBuilder): AsteriskConfSection {
  return Object.freeze({
    name: s.name,
    position: s.position,
    file: s.file,
    templateOnly: s.templateOnly,
    inherits: Object.freeze([...s.inherits]),
    variables: Object.freeze([...s.variables]),
  });
}

/** Orders diagnostics by file (in `files` order), then position. */
export function sortDiagnostics(diagnostics: Diagnostic[], files: readonly string[]): Diagnostic[] {
  const rank = (d: Diagnostic): number => {
    const i = files.indexOf(d.file);
    return i < 0 ? files.length : i;
  };
  return diagnostics.sort((a, b) => rank(a) - rank(b) || compareDiagnostics(a, b));
}

/**
 * Parses `file` (read with `read`) and everything it includes. Never throws: every
 * problem is a diagnostic, and the result holds all the sections that could be read.
 */
export function parseAsteriskConf(file: string, read: ConfigReader, limits: Partial<AsteriskConfLimits> = {}): AsteriskConfParseResult {
  const parser = new Parser(read, { ...DEFAULT_ASTERISK_CONF_LIMITS, ...limits });
  const text = read(file);
  if (text === null) {
    parser.report('error', DiagnosticCode.missing, file, { line: 1, col: 1 }, 'cannot read the file');
  } else {
    parser.loadFile(file, text, [], null);
  }
  return {
    sections: Object.freeze(parser.sections.map(freezeSection)),
    diagnostics: sortDiagnostics(parser.diagnostics, parser.files),
    files: Object.freeze([...parser.files]),
  };
}

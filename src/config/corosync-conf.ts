// corosync.conf syntax → positioned AST (architecture.md §2.9 step 1). The grammar is
// exactly what corosync 3.1.7's exec/coroparse.c parse_section() accepts, line by line:
//
//   - lines end at '\n'; one trailing '\r' is dropped (CRLF files work);
//   - only ' ' and '\t' count as white space; trailing white space is dropped;
//   - a line that is empty or whose first non-blank character is '#' is a comment.
//     There are NO trailing comments: in `token: 3000 # ms` the value is "3000 # ms"
//     (corosync then rejects it as a number, and so do we, with a hint);
//   - a line containing '{' opens a section named by the text before the first '{'
//     (trailing blanks and ':' removed, so `totem: {` is `totem`); anything after the
//     '{' is an error;
//   - otherwise a line containing ':' is `key: value`, split at the first ':' (values
//     may contain ':' and spaces, e.g. IPv6 addresses); the value is trimmed;
//   - otherwise a line containing '}' closes the innermost section and must be just '}';
//   - anything else (including `key = value`) is an error;
//   - a line may hold at most 510 bytes (coroparse reads with a 512-byte fgets buffer),
//     names may only use the cmap key characters [A-Za-z0-9._/:-], and the dotted cmap
//     path of a key (e.g. `totem.interface.mcastport`) must stay below 255 bytes.
//
// Differences from coroparse are only in error handling: corosync stops at the first
// error and names just a line; we report every error with line:col and keep going.
// For a missing '}' corosync says "Missing closing brace" at the end of the file; we
// name the section that is really unclosed, using the indentation of the '}' lines as
// evidence (see buildTree), because that is where the user has to add it.

import { DiagnosticCode, DiagnosticSink, type Diagnostic, type SourcePosition, compareDiagnostics } from './diagnostics';

export interface ConfKey {
  readonly kind: 'key';
  readonly name: string;
  /** The value with surrounding blanks removed; may be empty (`key:`). */
  readonly value: string;
  /** Position of the key name. */
  readonly line: number;
  readonly col: number;
  /** Column of the value's first character (just after the ':' when the value is empty). */
  readonly valueCol: number;
}

export interface ConfSection {
  readonly kind: 'section';
  readonly name: string;
  /** Position of the section name. */
  readonly line: number;
  readonly col: number;
  /** Line of the '}' that closed it; null when it is never closed. */
  readonly closeLine: number | null;
  readonly children: readonly ConfNode[];
}

export type ConfNode = ConfKey | ConfSection;

export interface ConfDocument {
  readonly children: readonly ConfNode[];
}

export interface ConfParseResult {
  readonly document: ConfDocument;
  readonly diagnostics: Diagnostic[];
}

/** coroparse reads lines with fgets(line, 512): 510 bytes plus '\n' (and the NUL) fit. */
const LINE_BYTES_MAX = 510;
/** ICMAP_KEYNAME_MAXLEN: coroparse rejects a path whose length reaches it. */
const CMAP_PATH_MAX = 255;
/** cmap key characters (exec/icmap.c icmap_is_valid_name_char). */
const NAME_PATTERN = /^[A-Za-z0-9._/:-]+$/;
const TAB_WIDTH = 8;

type LineEvent =
  | { type: 'open'; name: string; line: number; col: number; indent: number }
  | { type: 'close'; line: number; col: number; indent: number }
  | { type: 'key'; node: ConfKey };

/** A section while the tree is being built (children still growing). */
interface SectionBuilder {
  kind: 'section';
  name: string;
  line: number;
  col: number;
  closeLine: number | null;
  children: ConfNode[];
}

interface Unclosed {
  section: SectionBuilder;
  /** The '}' whose indentation shows it was meant for an outer section, if any. */
  misplacedClose: { line: number; outer: SectionBuilder } | null;
}

interface Tree {
  children: ConfNode[];
  unclosed: Unclosed[];
  strays: { line: number; col: number }[];
}

function isBlank(c: string | undefined): boolean {
  return c === ' ' || c === '\t';
}

function trimBlanks(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isBlank(s[start])) start++;
  while (end > start && isBlank(s[end - 1])) end--;
  return s.slice(start, end);
}

/** Visual width of the leading blanks, tabs to the next multiple of 8. */
function indentWidth(line: string): number {
  let width = 0;
  for (const c of line) {
    if (c === ' ') width++;
    else if (c === '\t') width = (Math.floor(width / TAB_WIDTH) + 1) * TAB_WIDTH;
    else break;
  }
  return width;
}

const utf8 = new TextEncoder();

function byteLength(s: string): number {
  // Every UTF-16 unit is at most 3 UTF-8 bytes: skip the encoding for short lines.
  return s.length * 3 <= LINE_BYTES_MAX ? s.length : utf8.encode(s).length;
}

/** coroparse remove_whitespace(…, 1): drop trailing blanks and ':'/'{', keeping one character. */
function sectionName(text: string): string {
  const trimmed = trimBlanks(text);
  let end = trimmed.length;
  while (end > 1 && /[ \t:{]/.test(trimmed[end - 1] ?? '')) end--;
  return trimmed.slice(0, end);
}

function checkName(name: string, at: SourcePosition, what: 'section' | 'key', sink: DiagnosticSink): void {
  if (name === '' || NAME_PATTERN.test(name)) return;
  sink.error(
    DiagnosticCode.syntax,
    at,
    `invalid ${what} name "${name}"`,
    'names may only use letters, digits and . _ / : - (corosync stores them as cmap keys)',
  );
}

/** Classifies one line as coroparse does; reports its syntax errors; null for comments. */
function classifyLine(raw: string, lineNo: number, sink: DiagnosticSink): LineEvent | null {
  if (byteLength(raw) > LINE_BYTES_MAX) {
    sink.error(DiagnosticCode.syntax, { line: lineNo, col: 1 }, `line too long (corosync reads at most ${LINE_BYTES_MAX} bytes per line)`);
  }
  const withoutCr = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  let end = withoutCr.length;
  while (end > 0 && isBlank(withoutCr[end - 1])) end--;
  const line = withoutCr.slice(0, end);
  let start = 0;
  while (start < line.length && isBlank(line[start])) start++;
  if (start === line.length || line[start] === '#') return null;
  const indent = indentWidth(line);

  const brace = line.indexOf('{');
  if (brace >= 0) return classifyOpen(line, lineNo, start, brace, indent, sink);

  const colon = line.indexOf(':');
  if (colon >= 0) {
    const name = trimBlanks(line.slice(start, colon));
    let valueStart = colon + 1;
    while (valueStart < line.length && isBlank(line[valueStart])) valueStart++;
    const at = { line: lineNo, col: start + 1 };
    if (name === '') sink.error(DiagnosticCode.syntax, at, "missing key name before ':'");
    checkName(name, at, 'key', sink);
    const node: ConfKey = { kind: 'key', name, value: line.slice(valueStart), line: lineNo, col: start + 1, valueCol: valueStart + 1 };
    return { type: 'key', node };
  }

  const close = line.indexOf('}');
  if (close >= 0) {
    if (line.slice(start) !== '}') {
      // Still taken as the close it most likely is, so that one bad line does not
      // turn the rest of the file into a cascade of brace errors.
      sink.error(
        DiagnosticCode.syntax,
        { line: lineNo, col: start + 1 },
        "extra characters before or after closing '}'",
        "a '}' must stand alone on its line; corosync.conf has no trailing comments",
      );
    }
    return { type: 'close', line: lineNo, col: close + 1, indent };
  }

  sink.error(
    DiagnosticCode.syntax,
    { line: lineNo, col: start + 1 },
    "expected 'key: value', 'name {' or '}'",
    line.includes('=') ? "corosync.conf writes 'key: value', not 'key = value'" : undefined,
  );
  return null;
}

function classifyOpen(line: string, lineNo: number, start: number, brace: number, indent: number, sink: DiagnosticSink): LineEvent {
  const name = sectionName(line.slice(start, brace));
  const at = { line: lineNo, col: start + 1 };
  if (name === '') {
    sink.error(DiagnosticCode.syntax, { line: lineNo, col: brace + 1 }, "missing section name before '{'");
  }
  checkName(name, at, 'section', sink);
  let after = brace + 1;
  while (after < line.length && isBlank(line[after])) after++;
  if (after < line.length) {
    sink.error(
      DiagnosticCode.syntax,
      { line: lineNo, col: after + 1 },
      "extra characters after opening '{'",
      "corosync.conf takes one item per line: put what follows '{' on the next lines",
    );
  }
  return { type: 'open', name, line: lineNo, col: start + 1, indent };
}

/**
 * Builds the section tree from the line events. Without `recover` a '}' always closes
 * the innermost section (corosync's rule). With `recover`, a '}' indented like an outer
 * open section (and unlike the innermost one) closes that outer section, and the
 * sections in between are reported as unclosed; at most `budget` sections are closed
 * this way. Only used when plain matching leaves sections open at the end of the file,
 * i.e. when braces are definitely missing and the only question is where.
 */
function buildTree(events: readonly LineEvent[], recover: boolean, budget: number): Tree {
  const root: ConfNode[] = [];
  const stack: { section: SectionBuilder; indent: number }[] = [];
  const unclosed: Unclosed[] = [];
  const strays: { line: number; col: number }[] = [];
  let left = budget;
  const childrenOfTop = (): ConfNode[] => stack[stack.length - 1]?.section.children ?? root;
  for (const event of events) {
    if (event.type === 'key') {
      childrenOfTop().push(event.node);
    } else if (event.type === 'open') {
      const section: SectionBuilder = { kind: 'section', name: event.name, line: event.line, col: event.col, closeLine: null, children: [] };
      childrenOfTop().push(section);
      stack.push({ section, indent: event.indent });
    } else {
      const top = stack[stack.length - 1];
      if (top === undefined) {
        strays.push({ line: event.line, col: event.col });
        continue;
      }
      let target = stack.length - 1;
      if (recover && top.indent !== event.indent) {
        for (let j = stack.length - 2; j >= 0; j--) {
          if (stack[j]?.indent === event.indent) {
            if (stack.length - 1 - j <= left) target = j;
            break;
          }
        }
      }
      const outer = stack[target];
      if (outer === undefined) continue;
      for (let k = stack.length - 1; k > target; k--) {
        const inner = stack[k];
        if (inner !== undefined) unclosed.push({ section: inner.section, misplacedClose: { line: event.line, outer: outer.section } });
        left--;
      }
      outer.section.closeLine = event.line;
      stack.length = target;
    }
  }
  for (const open of stack) unclosed.push({ section: open.section, misplacedClose: null });
  return { children: root, unclosed, strays };
}

function reportBraces(tree: Tree, sink: DiagnosticSink): void {
  for (const { section, misplacedClose } of tree.unclosed) {
    const hint =
      misplacedClose === null
        ? `add a '}' on its own line where '${section.name}' ends`
        : `the '}' on line ${misplacedClose.line} is indented like '${misplacedClose.outer.name} {' (line ${misplacedClose.outer.line}), so it is read as closing '${misplacedClose.outer.name}'; add a '}' for '${section.name}' before it`;
    sink.error(DiagnosticCode.syntax, section, `section '${section.name}' is not closed: missing '}'`, hint);
  }
  for (const stray of tree.strays) {
    sink.error(DiagnosticCode.syntax, stray, "unexpected '}': no section is open here");
  }
}

/** coroparse refuses paths that reach ICMAP_KEYNAME_MAXLEN. */
function checkPaths(nodes: readonly ConfNode[], prefix: string, sink: DiagnosticSink): void {
  for (const node of nodes) {
    const path = prefix === '' ? node.name : `${prefix}.${node.name}`;
    if (path.length >= CMAP_PATH_MAX) {
      sink.error(DiagnosticCode.syntax, node, `name too long: the cmap path ${path.slice(0, 40)}… reaches ${CMAP_PATH_MAX} characters`);
      continue;
    }
    if (node.kind === 'section') checkPaths(node.children, path, sink);
  }
}

/**
 * Parses corosync.conf text. Never throws: every problem is a diagnostic, and the
 * document holds everything that could be understood (repeated sections in order).
 */
export function parseCorosyncConf(text: string, file: string): ConfParseResult {
  const sink = new DiagnosticSink(file);
  let body = text;
  if (body.startsWith('\uFEFF')) {
    sink.error(DiagnosticCode.syntax, { line: 1, col: 1 }, 'file starts with a byte order mark (BOM), which corosync reads as part of the first name', 'save the file as UTF-8 without BOM');
    body = body.slice(1);
  }
  const events: LineEvent[] = [];
  body.split('\n').forEach((raw, i) => {
    const event = classifyLine(raw, i + 1, sink);
    if (event !== null) events.push(event);
  });
  let tree = buildTree(events, false, 0);
  if (tree.unclosed.length > 0) {
    const recovered = buildTree(events, true, tree.unclosed.length);
    if (recovered.strays.length <= tree.strays.length) tree = recovered;
  }
  reportBraces(tree, sink);
  checkPaths(tree.children, '', sink);
  return { document: { children: tree.children }, diagnostics: sink.items.sort(compareDiagnostics) };
}

function printNodes(nodes: readonly ConfNode[], depth: number, out: string[]): void {
  const indent = '\t'.repeat(depth);
  for (const node of nodes) {
    if (node.kind === 'key') {
      out.push(node.value === '' ? `${indent}${node.name}:` : `${indent}${node.name}: ${node.value}`);
    } else {
      out.push(`${indent}${node.name} {`);
      printNodes(node.children, depth + 1, out);
      out.push(`${indent}}`);
    }
  }
}

/**
 * Prints a document back as canonical corosync.conf (tab indentation, every section
 * closed, no comments). Parsing the output gives the same names, values and nesting.
 */
export function printCorosyncConf(document: ConfDocument): string {
  const out: string[] = [];
  printNodes(document.children, 0, out);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/**
 * A section's children for reading: its keys by name, the last value winning as in cmap
 * (an earlier one is warned about at its position), and its subsections in order.
 * `dotted` names a key for the warning, e.g. `totem.token`.
 */
export function indexSection(children: readonly ConfNode[], dotted: (name: string) => string, sink: DiagnosticSink): { keys: Map<string, ConfKey>; sections: ConfSection[] } {
  const keys = new Map<string, ConfKey>();
  const sections: ConfSection[] = [];
  for (const node of children) {
    if (node.kind === 'section') {
      sections.push(node);
      continue;
    }
    const earlier = keys.get(node.name);
    if (earlier !== undefined) {
      sink.warning(DiagnosticCode.duplicateKey, earlier, `${dotted(node.name)} is set again on line ${node.line}; this value is ignored`, 'the last value wins, as in corosync');
    }
    keys.set(node.name, node);
  }
  return { keys, sections };
}

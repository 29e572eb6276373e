/**
 * Lexer and parser for the xl domain configuration syntax, xl.cfg(5).
 *
 * A config file is a series of settings, each `KEY = VALUE` or `KEY += VALUE`,
 * separated by newlines or `;`.  `#` starts a comment that runs to the end of
 * the line (outside strings).  A VALUE is
 *
 *   - a string in single or double quotes.  Both kinds accept the backslash
 *     escapes xl's lexer accepts: \\ \' \" \a \b \f \n \r \t \v, \xHH (exactly
 *     two hex digits) and \OOO (one to three octal digits, at most \377).
 *     A string cannot span lines.  (xl's own numeric-escape decoding is buggy;
 *     we implement what its error messages say it means.)  The escaped value is
 *     the character with that code (U+0000..U+00FF).
 *   - a number: decimal, hex with a `0x` prefix, or octal with a leading `0`,
 *     as strtol(…, 0) reads them.  No sign, no fraction.
 *   - a list `[ VALUE, VALUE, ... ]`, possibly nested and empty, with an
 *     optional trailing comma; newlines and comments may appear anywhere
 *     between the brackets.
 *
 * `KEY += VALUE` appends to the previous value of KEY as xl does: string onto
 * string, list onto list; with no previous value it is a plain assignment.
 * xl refuses `+=` for numbers, and so do we (we fail at parse time).
 * A later setting of the same key replaces an earlier one.
 *
 * Keys are identifiers `[A-Za-z_][A-Za-z0-9_]*`.
 *
 * In xl every atom is stored as a string and converted when a number is
 * wanted, so `memory = "256"` works; our raw values keep the distinction
 * (kind 'string' / 'number') and domain-config.ts accepts either where xl does.
 *
 * Every error is a {@link ConfigError}: one line, `FILE:LINE:COL: problem`.
 * Configs written for xm (which were Python programs) are recognised when they
 * fail to parse and reported as such.
 */
import { UserError } from '../errors.ts';

/** A position in a config source; lines and columns count from 1. */
export interface SourceLoc {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** A config error: its message is one line, `FILE:LINE:COL: problem`. */
export class ConfigError extends UserError {
  override name = 'ConfigError';
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly problem: string;
  constructor(loc: SourceLoc, problem: string) {
    const oneLine = problem.replace(/\r?\n/g, ' ');
    super(`${loc.file}:${loc.line}:${loc.col}: ${oneLine}`);
    this.file = loc.file;
    this.line = loc.line;
    this.col = loc.col;
    this.problem = oneLine;
  }
}

/** The name errors in command-line overrides are reported against. */
export const COMMAND_LINE = '<command line>';

export type RawValue = RawString | RawNumber | RawList;

export interface RawString {
  readonly kind: 'string';
  readonly value: string;
  readonly loc: SourceLoc;
}

export interface RawNumber {
  readonly kind: 'number';
  readonly value: number;
  /** The number as written, e.g. "0x80". */
  readonly text: string;
  readonly loc: SourceLoc;
}

export interface RawList {
  readonly kind: 'list';
  readonly items: readonly RawValue[];
  readonly loc: SourceLoc;
}

export interface RawSetting {
  readonly key: string;
  /** The operator of the last assignment that set this key. */
  readonly op: '=' | '+=';
  readonly value: RawValue;
  /** Where the key of the last assignment is. */
  readonly loc: SourceLoc;
}

/** A parsed config: settings by key, in order of first appearance. */
export interface RawConfig {
  readonly file: string;
  readonly settings: ReadonlyMap<string, RawSetting>;
}

/** A raw value without locations. */
export type PlainValue = string | number | PlainValue[];

export function toPlain(v: RawValue): PlainValue {
  switch (v.kind) {
    case 'string':
    case 'number':
      return v.value;
    case 'list':
      return v.items.map(toPlain);
  }
}

/** Parses the text of an xl config file.  `file` names it in errors. */
export function parseXlConfig(text: string, file: string): RawConfig {
  const settings = new Map<string, RawSetting>();
  parseInto(settings, text, file, 1);
  return { file, settings };
}

/**
 * Applies `xl create CFG KEY=VALUE...` overrides: each is parsed with the
 * config grammar (so strings need quotes, e.g. `name="vm2"`) after the file,
 * so it replaces (`=`) or appends to (`+=`) the file's setting.  Errors name
 * `<command line>`, with the 1-based index of the override as the line.
 * Returns a new config; `raw` is not modified.
 */
export function applyOverrides(raw: RawConfig, overrides: readonly string[]): RawConfig {
  const settings = new Map(raw.settings);
  overrides.forEach((text, i) => parseInto(settings, text, COMMAND_LINE, i + 1));
  return { file: raw.file, settings };
}

/**
 * Parses one number as the config grammar writes it (decimal, 0x hex,
 * leading-0 octal), also used for numbers given as strings.  Returns
 * undefined if `text` is not such a number.
 */
export function parseXlNumber(text: string): number | undefined {
  let n: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) n = parseInt(text.slice(2), 16);
  else if (/^0[0-7]*$/.test(text)) n = text.length === 1 ? 0 : parseInt(text.slice(1), 8);
  else if (/^[1-9][0-9]*$/.test(text)) n = parseInt(text, 10);
  else return undefined;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Quotes user text for a one-line message: 'text', control characters escaped. */
export function show(s: string): string {
  const esc = s.replace(/[\\\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case '\\': return '\\\\';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      default: return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
  return `'${esc}'`;
}

// ---------------------------------------------------------------- lexer

type Punct = '=' | '+=' | ',' | '[' | ']' | ';';

type Token =
  | { t: 'ident'; text: string; loc: SourceLoc }
  | { t: 'string'; value: string; loc: SourceLoc }
  | { t: 'number'; value: number; text: string; loc: SourceLoc }
  | { t: Punct; loc: SourceLoc }
  | { t: 'nl'; loc: SourceLoc }
  | { t: 'eof'; loc: SourceLoc }
  /** A character that xl never accepts but Python uses: ( ) + % : { } * . */
  | { t: 'py'; text: string; loc: SourceLoc }
  /** Any other character that starts no token. */
  | { t: 'bad'; text: string; loc: SourceLoc };

const PY_CHARS = new Set(['(', ')', '+', '%', ':', '{', '}', '*', '.']);

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

class Lexer {
  private pos = 0;
  private line: number;
  private lineStart = 0;
  private readonly ahead: Token[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
    firstLine: number,
  ) {
    this.line = firstLine;
    if (text.charCodeAt(0) === 0xfeff) this.pos = this.lineStart = 1; // BOM
  }

  next(): Token {
    return this.ahead.shift() ?? this.scan();
  }

  peek(n = 0): Token {
    while (this.ahead.length <= n) this.ahead.push(this.scan());
    return this.ahead[n]!;
  }

  private locAt(pos: number): SourceLoc {
    return { file: this.file, line: this.line, col: pos - this.lineStart + 1 };
  }

  private scan(): Token {
    const s = this.text;
    for (;;) {
      if (this.pos >= s.length) return { t: 'eof', loc: this.locAt(this.pos) };
      const c = s[this.pos]!;
      if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
        this.pos++;
      } else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else {
        break;
      }
    }
    const start = this.pos;
    const loc = this.locAt(start);
    const c = s[start]!;
    if (c === '\n') {
      this.pos++;
      this.line++;
      this.lineStart = this.pos;
      return { t: 'nl', loc };
    }
    if (/[A-Za-z_]/.test(c)) {
      let end = start + 1;
      while (end < s.length && /[A-Za-z0-9_]/.test(s[end]!)) end++;
      this.pos = end;
      return { t: 'ident', text: s.slice(start, end), loc };
    }
    if (/[0-9]/.test(c)) {
      // Take everything a sloppy number could run into, then judge it whole,
      // so that `12abc` or `1.5` is one bad number rather than two tokens.
      let end = start + 1;
      while (end < s.length && /[0-9A-Za-z_.]/.test(s[end]!)) end++;
      const text = s.slice(start, end);
      this.pos = end;
      const value = parseXlNumber(text);
      if (value === undefined) {
        const why = /^0[0-9]+$/.test(text)
          ? ' (a leading 0 means octal)'
          : /^[0-9]+$|^0[xX][0-9a-fA-F]+$/.test(text)
            ? ' (too large)'
            : '';
        throw new ConfigError(loc, `bad number ${show(text)}${why}`);
      }
      return { t: 'number', value, text, loc };
    }
    if (c === '"' || c === "'") return this.scanString(c, loc);
    this.pos++;
    switch (c) {
      case '=':
      case ',':
      case '[':
      case ']':
      case ';':
        return { t: c, loc };
      case '+':
        if (s[this.pos] === '=') {
          this.pos++;
          return { t: '+=', loc };
        }
        return { t: 'py', text: '+', loc };
    }
    if (PY_CHARS.has(c)) return { t: 'py', text: c, loc };
    const cp = s.codePointAt(start)!;
    if (cp > 0xffff) this.pos++;
    return { t: 'bad', text: String.fromCodePoint(cp), loc };
  }

  private scanString(quote: string, loc: SourceLoc): Token {
    const s = this.text;
    let i = this.pos + 1;
    let out = '';
    for (;;) {
      if (i >= s.length || s[i] === '\n') throw new ConfigError(loc, 'unterminated string');
      const c = s[i]!;
      if (c === quote) {
        this.pos = i + 1;
        return { t: 'string', value: out, loc };
      }
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const escLoc = this.locAt(i);
      const e = s[i + 1];
      if (e === undefined || e === '\n') throw new ConfigError(loc, 'unterminated string');
      const simple = SIMPLE_ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
        i += 2;
      } else if (e === 'x') {
        const hex = s.slice(i + 2, i + 4);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
          throw new ConfigError(escLoc, 'invalid \\x escape in string (needs two hex digits)');
        }
        out += String.fromCharCode(parseInt(hex, 16));
        i += 4;
      } else if (e >= '0' && e <= '7') {
        let j = i + 1;
        while (j < i + 4 && j < s.length && s[j]! >= '0' && s[j]! <= '7') j++;
        const code = parseInt(s.slice(i + 1, j), 8);
        if (code > 0o377) throw new ConfigError(escLoc, `octal escape ${show(s.slice(i, j))} in string is above \\377`);
        out += String.fromCharCode(code);
        i = j;
      } else {
        const ch = String.fromCodePoint(s.codePointAt(i + 1)!);
        const shown = /^[\x21-\x7e]$/.test(ch) ? `'\\${ch}'` : `(backslash then ${show(ch)})`;
        throw new ConfigError(escLoc, `invalid escape ${shown} in string`);
      }
    }
  }
}

// ---------------------------------------------------------------- parser

/** Words that begin Python statements or expressions but no xl setting. */
const PY_KEYWORDS = new Set([
  'import', 'from', 'def', 'if', 'elif', 'else', 'for', 'while', 'return',
  'print', 'try', 'except', 'finally', 'class', 'with', 'lambda', 'global',
  'pass', 'del', 'assert', 'raise', 'in', 'and', 'or', 'not', 'is',
]);
const PY_VALUES = new Set(['True', 'False', 'None']);

function pythonError(loc: SourceLoc, what: string): ConfigError {
  return new ConfigError(
    loc,
    `this looks like an xm (Python) config (${show(what)}), which xl does not accept; ` +
      `rewrite it as plain KEY = VALUE settings (see xl.cfg(5))`,
  );
}

function describe(tok: Token): string {
  switch (tok.t) {
    case 'ident': return show(tok.text);
    case 'number': return show(tok.text);
    case 'string': return 'a string';
    case 'nl': return 'end of line';
    case 'eof': return 'end of input';
    case 'py':
    case 'bad': return show(tok.text);
    default: return show(tok.t);
  }
}

function unexpectedChar(tok: { text: string; loc: SourceLoc }): ConfigError {
  const cp = tok.text.codePointAt(0)!;
  const shown = cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0)
    ? `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`
    : show(tok.text);
  return new ConfigError(tok.loc, `unexpected character ${shown}`);
}

function isEnd(tok: Token): boolean {
  return tok.t === 'nl' || tok.t === ';' || tok.t === 'eof';
}

function parseInto(settings: Map<string, RawSetting>, text: string, file: string, firstLine: number): void {
  const lx = new Lexer(text, file, firstLine);
  for (;;) {
    const tok = lx.next();
    switch (tok.t) {
      case 'eof':
        return;
      case 'nl':
      case ';':
        continue;
      case 'ident':
        parseSetting(lx, tok, settings);
        continue;
      case 'py':
        throw pythonError(tok.loc, tok.text);
      case 'bad':
        throw unexpectedChar(tok);
      case '=':
      case '+=':
        throw new ConfigError(tok.loc, `missing setting name before ${show(tok.t)}`);
      case ']':
        throw new ConfigError(tok.loc, `unexpected ']'`);
      default:
        throw new ConfigError(tok.loc, `expected a setting name, found ${describe(tok)}`);
    }
  }
}

function parseSetting(
  lx: Lexer,
  key: { text: string; loc: SourceLoc },
  settings: Map<string, RawSetting>,
): void {
  const op = lx.next();
  if (op.t !== '=' && op.t !== '+=') {
    if (PY_KEYWORDS.has(key.text)) throw pythonError(key.loc, key.text);
    if (op.t === 'py') throw pythonError(op.loc, op.text);
    if (op.t === '[') throw pythonError(op.loc, `${key.text}[`);
    throw new ConfigError(op.loc, `expected '=' after ${show(key.text)}, found ${describe(op)}`);
  }
  const value = parseValue(lx, lx.next(), `after '${op.t}'`);
  const end = lx.next();
  if (!isEnd(end)) afterValue(end, `expected ';' or end of line after the value of ${show(key.text)}, found ${describe(end)}`);

  const prev = settings.get(key.text);
  let stored = value;
  if (op.t === '+=') {
    if (value.kind === 'number' || prev?.value.kind === 'number') {
      throw new ConfigError(op.loc, `can't use '+=' with a number (${show(key.text)})`);
    }
    if (prev) {
      if (prev.value.kind !== value.kind) {
        throw new ConfigError(op.loc, `can't add a ${value.kind} to a ${prev.value.kind} (${show(key.text)})`);
      }
      stored = prev.value.kind === 'string'
        ? { kind: 'string', value: prev.value.value + (value as RawString).value, loc: prev.value.loc }
        : { kind: 'list', items: [...(prev.value as RawList).items, ...(value as RawList).items], loc: prev.value.loc };
    }
  }
  settings.set(key.text, { key: key.text, op: op.t, value: stored, loc: key.loc });
}

/** Reports what follows a complete value where it does not belong. */
function afterValue(tok: Token, otherwise: string): never {
  if (tok.t === 'py') throw pythonError(tok.loc, tok.text);
  if (tok.t === 'ident' && PY_KEYWORDS.has(tok.text)) throw pythonError(tok.loc, tok.text);
  if (tok.t === 'bad') throw unexpectedChar(tok);
  throw new ConfigError(tok.loc, otherwise);
}

/** `where` says what the value was expected after, for "missing value" errors. */
function parseValue(lx: Lexer, tok: Token, where: string): RawValue {
  switch (tok.t) {
    case 'string':
      return { kind: 'string', value: tok.value, loc: tok.loc };
    case 'number':
      return { kind: 'number', value: tok.value, text: tok.text, loc: tok.loc };
    case '[':
      return parseList(lx, tok.loc);
    case 'nl':
    case 'eof':
    case ';':
      throw new ConfigError(tok.loc, `missing value ${where}`);
    case 'ident': {
      const following = lx.peek();
      if (PY_VALUES.has(tok.text) || PY_KEYWORDS.has(tok.text)) throw pythonError(tok.loc, tok.text);
      if (following.t === 'ident' && PY_KEYWORDS.has(following.text)) throw pythonError(following.loc, following.text);
      if (following.t === 'py' || following.t === '[') {
        throw pythonError(tok.loc, tok.text + (following.t === 'py' ? following.text : '['));
      }
      throw new ConfigError(tok.loc, `expected a value, found ${show(tok.text)} (strings must be quoted, e.g. "${tok.text}")`);
    }
    case 'py':
      throw pythonError(tok.loc, tok.text);
    case 'bad':
      throw unexpectedChar(tok);
    default:
      throw new ConfigError(tok.loc, `expected a value, found ${describe(tok)}`);
  }
}

function skipNewlines(lx: Lexer): void {
  while (lx.peek().t === 'nl') lx.next();
}

/** Parses list items after `[`; `open` is where the `[` is. */
function parseList(lx: Lexer, open: SourceLoc): RawList {
  const unclosed = () => new ConfigError(open, `'[' is never closed (missing ']')`);
  // A `KEY =` inside a list almost certainly means the ']' was forgotten.
  const startsSetting = () => lx.peek().t === 'ident' && (lx.peek(1).t === '=' || lx.peek(1).t === '+=');
  const items: RawValue[] = [];
  for (;;) {
    skipNewlines(lx);
    const tok = lx.peek();
    if (tok.t === ']') {
      lx.next();
      return { kind: 'list', items, loc: open };
    }
    if (tok.t === 'eof' || startsSetting()) throw unclosed();
    if (tok.t === ',') throw new ConfigError(tok.loc, `expected a value or ']' in list, found ','`);
    items.push(parseValue(lx, lx.next(), 'in list'));
    skipNewlines(lx);
    const sep = lx.peek();
    if (sep.t === ',') {
      lx.next();
      continue;
    }
    if (sep.t === ']') continue;
    if (sep.t === 'eof' || startsSetting()) throw unclosed();
    afterValue(sep, `expected ',' or ']' in list, found ${describe(sep)}`);
  }
}

// A small schema language for the extension's settings. One declaration per key carries everything
// the rest of the extension needs: the TypeScript type (inferred), the default, the environment
// variables, the description, whether the value is secret, and the decoder that validates input from
// a file or an environment variable. Hand-written rather than a schema library: the whole language
// is a few hundred lines, adds nothing measurable to start-up, and produces error messages in our
// own words (key path, expected, got, source).

export type ConfigSource = 'default' | 'layer' | 'function' | 'env';

/** One value as read from a file (with its line) or from an environment variable (a plain string). */
export type InputNode =
  | { readonly t: 'scalar'; readonly value: string | number | boolean | null; readonly line?: number }
  | { readonly t: 'map'; readonly entries: readonly MapEntry[]; readonly line?: number }
  | { readonly t: 'seq'; readonly items: readonly InputNode[]; readonly line?: number };

export interface MapEntry {
  readonly key: string;
  readonly line?: number;
  readonly value: InputNode;
}

/** Where a value came from and how to report problems with it. */
export interface DecodeContext {
  /** File values get `${env:NAME}` substitution and YAML types; env values are strings in env formats. */
  readonly origin: 'file' | 'env';
  /** Reports a problem with the value at `path` (found at `line` of a file). */
  problem(path: string, line: number | undefined, text: string): void;
  /** Expands `${env:NAME}` references in a string read from a file; undefined when malformed. */
  expand(text: string, path: string, line: number | undefined, secret: boolean): string | undefined;
}

/** Returned by decoders when the input was invalid (the problem is already reported). */
export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

export type LeafKind =
  | 'string'
  | 'url'
  | 'integer'
  | 'duration_ms'
  | 'bytes'
  | 'boolean'
  | 'enum'
  | 'list'
  | 'string_map'
  | 'object_list'
  | 'custom';

export interface Leaf<T> {
  readonly node: 'leaf';
  readonly kind: LeafKind;
  readonly description: string;
  readonly default: T;
  /**
   * Environment variables in precedence order. Undefined: derived from the key path
   * (LAMBDA_OTEL_ + path in upper case, dots as underscores); false: none.
   */
  readonly env: readonly string[] | false | undefined;
  /**
   * Standard variables shared with the function (OpenTelemetry, Datadog), read after `env`. They are
   * the function's too, so an invalid value there is a warning and is ignored.
   */
  readonly standardEnv: readonly string[];
  /** Never shown in logs or error messages. */
  readonly secret: boolean;
  /** Must be present (only meaningful inside list items). */
  readonly required: boolean;
  /** Maps merge key by key across sources; everything else replaces. */
  readonly merge: 'replace' | 'keys';
  /** Type and range as the reference shows them. */
  readonly typeLabel: string;
  /** Item schema of an object list, for the reference. */
  readonly item?: Section<Fields>;
  /** YAML lines of an example list, for the layer template (object lists). */
  readonly example?: readonly string[];
  decode(node: InputNode, cx: DecodeContext, path: string): T | Invalid;
  /** The value as plain data (YAML/JSON-ready), for the reference, the layer template and logs. */
  render(value: T): unknown;
}

export interface Fields {
  readonly [key: string]: SchemaNode;
}

export interface Section<F extends Fields> {
  readonly node: 'section';
  readonly description: string;
  readonly fields: F;
  /** Checks across the keys of one object (list items only). */
  // Method syntax on purpose: it keeps Section<F> assignable to Section<Fields>.
  check?(value: Infer<Section<F>>, report: (key: string, text: string) => void): void;
}

export type SchemaNode = Leaf<unknown> | Section<Fields>;

/** The configuration type a schema node describes. */
export type Infer<N> =
  N extends Leaf<infer T> ? T : N extends Section<infer F> ? { readonly [K in keyof F]: Infer<F[K]> } : never;

// ---------------------------------------------------------------------------------------------
// Messages

const MAX_SHOWN = 80;

/** How a value is named after "got" in an error message. */
export function describeGot(value: unknown, secret: boolean): string {
  if (secret) return 'a value that is not shown (secret)';
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') {
    const shown = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}…` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return 'a value of another type';
}

function describeNodeShape(node: InputNode, secret: boolean): string {
  if (node.t === 'map') return 'a mapping';
  if (node.t === 'seq') return 'a list';
  return describeGot(node.value, secret);
}

/**
 * Thousands separators for readable ranges: 1048576 → 1,048,576. By hand: toLocaleString loads
 * locale data, tens of milliseconds of cold start for a label only the reference shows.
 */
export function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 8388608 → "8 MiB"; undefined when not a whole KiB/MiB. */
export function formatByteSize(n: number): string | undefined {
  if (n >= 1073741824 && n % 1073741824 === 0) return `${n / 1073741824} GiB`;
  if (n >= 1048576 && n % 1048576 === 0) return `${n / 1048576} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Builders

interface CommonOptions {
  description: string;
  /** Environment variable(s); omitted: derived from the key path; false: none. */
  env?: string | readonly string[] | false;
  standardEnv?: readonly string[];
  secret?: boolean;
}

type ScalarValue = string | number | boolean;

/** A problem found while parsing one scalar; the text replaces "expected …, got …". */
export class Problem {
  constructor(readonly text: string) {}
}

interface ScalarSpec<T> extends CommonOptions {
  kind: LeafKind;
  typeLabel: string;
  /** "an integer between 0 and 2000": used in "expected …". */
  expected: string;
  default: T;
  required?: boolean;
  /** INVALID: the generic "expected …, got …" message; Problem: a specific message. */
  parse(value: ScalarValue): T | Problem | Invalid;
  render?(value: T): unknown;
}

function envList(env: CommonOptions['env']): readonly string[] | false | undefined {
  if (env === undefined || env === false) return env;
  return typeof env === 'string' ? [env] : env;
}

function scalarLeaf<T>(spec: ScalarSpec<T>): Leaf<T> {
  const secret = spec.secret ?? false;
  return {
    node: 'leaf',
    kind: spec.kind,
    description: spec.description,
    default: spec.default,
    env: envList(spec.env),
    standardEnv: spec.standardEnv ?? [],
    secret,
    required: spec.required ?? false,
    merge: 'replace',
    typeLabel: spec.typeLabel,
    decode(node, cx, path) {
      if (node.t !== 'scalar' || node.value === null) {
        cx.problem(path, node.line, `expected ${spec.expected}, got ${describeNodeShape(node, secret)}`);
        return INVALID;
      }
      let value: ScalarValue = node.value;
      if (typeof value === 'string' && cx.origin === 'file') {
        const expanded = cx.expand(value, path, node.line, secret);
        if (expanded === undefined) return INVALID;
        value = expanded;
      }
      const parsed = spec.parse(value);
      if (parsed === INVALID) {
        cx.problem(path, node.line, `expected ${spec.expected}, got ${describeGot(value, secret)}`);
        return INVALID;
      }
      if (parsed instanceof Problem) {
        cx.problem(path, node.line, parsed.text);
        return INVALID;
      }
      return parsed;
    },
    render: spec.render ?? ((value) => value),
  };
}

interface OptionalSpec extends CommonOptions {
  /** Not required: the value is undefined when no source sets it. */
  default?: undefined;
}

export interface TextOptions extends CommonOptions {
  /** Accepted form, as a regular expression on the whole (trimmed) value. */
  pattern?: RegExp;
  /** "a Secrets Manager ARN": used in "expected …" when the pattern does not match. */
  patternLabel?: string;
  required?: boolean;
}

/** C0 controls and DEL; a tab is allowed where `allowTab` (it is legal in an HTTP header value). */
function hasControlCharacter(text: string, allowTab: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && !(allowTab && c === 0x09)) || c === 0x7f) return true;
  }
  return false;
}

function textParser(opts: TextOptions, optional: boolean): (v: ScalarValue) => string | undefined | Problem {
  return (v) => {
    // Numbers and booleans are accepted as their text: YAML types `version: 2` as a number.
    const text = String(v).trim();
    if (text === '') return optional ? undefined : new Problem('expected a non-empty string, got ""');
    if (hasControlCharacter(text, false)) {
      return new Problem(
        `expected a string without control characters${opts.secret ? ' (value not shown: secret)' : `, got ${describeGot(text, false)}`}`,
      );
    }
    if (opts.pattern && !opts.pattern.test(text)) {
      return new Problem(
        `expected ${opts.patternLabel ?? `a string matching ${opts.pattern}`}, got ${describeGot(text, opts.secret ?? false)}`,
      );
    }
    return text;
  };
}

/** A string that must be given (list items only: decoding reports it when absent). */
export function text(opts: TextOptions & { required: true; default?: undefined }): Leaf<string>;
/** A string with a default. */
export function text(opts: TextOptions & { default: string }): Leaf<string>;
/** An optional string: empty means unset. */
export function text(opts: TextOptions & OptionalSpec): Leaf<string | undefined>;
export function text(opts: TextOptions & { default?: string }): Leaf<string | undefined> {
  const optional = opts.default === undefined;
  const parse = textParser(opts, optional);
  return scalarLeaf<string | undefined>({
    ...opts,
    kind: 'string',
    typeLabel: opts.patternLabel?.replace(/^an? /, '') ?? 'string',
    expected: opts.patternLabel ?? 'a string',
    default: opts.default,
    parse,
  });
}

/** An optional http(s) URL. */
export function url(opts: CommonOptions & OptionalSpec): Leaf<string | undefined> {
  return scalarLeaf<string | undefined>({
    ...opts,
    kind: 'url',
    typeLabel: 'URL',
    expected: 'an http:// or https:// URL',
    default: undefined,
    parse(v) {
      if (typeof v !== 'string')
        return new Problem(`expected an http:// or https:// URL, got ${describeGot(v, false)}`);
      const trimmed = v.trim();
      if (trimmed === '') return undefined;
      let parsed: URL;
      try {
        parsed = new URL(trimmed);
      } catch {
        return new Problem(
          `expected an http:// or https:// URL, got ${describeGot(redactUrlText(trimmed), false)}`,
        );
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        return new Problem(`expected an http:// or https:// URL, got a ${parsed.protocol}// URL`);
      }
      return trimmed;
    },
  });
}

/** Hides user info and the query of a URL: both may carry credentials. */
export function redactUrlText(text: string): string {
  return text.replace(/\/\/[^/@?#]*@/, '//<redacted>@').replace(/\?[^#]*/, '?<redacted>');
}

export interface IntegerOptions extends CommonOptions {
  min: number;
  max: number;
}

const INTEGER_TEXT = /^[+-]?\d+$/;

function integerLeaf(
  kind: 'integer' | 'duration_ms' | 'bytes',
  opts: IntegerOptions & { default?: number },
): Leaf<number | undefined> {
  const expected = `an integer between ${opts.min} and ${opts.max}`;
  const unit = kind === 'duration_ms' ? ' (ms)' : kind === 'bytes' ? ' (bytes)' : '';
  const range = (n: number) => (kind === 'bytes' ? formatCount(n) + sizeSuffix(n) : formatCount(n));
  return scalarLeaf<number | undefined>({
    ...opts,
    kind,
    typeLabel: `integer${unit}, ${range(opts.min)}–${range(opts.max)}`,
    expected,
    default: opts.default,
    parse(v) {
      let n: number;
      if (typeof v === 'number') n = v;
      else if (typeof v === 'string' && INTEGER_TEXT.test(v.trim())) n = Number(v.trim());
      else return INVALID;
      if (!Number.isSafeInteger(n) || n < opts.min || n > opts.max) return INVALID;
      return n;
    },
  });
}

function sizeSuffix(n: number): string {
  const size = formatByteSize(n);
  return size ? ` (${size})` : '';
}

export function integer(opts: IntegerOptions & { default: number }): Leaf<number>;
export function integer(opts: IntegerOptions & OptionalSpec): Leaf<number | undefined>;
export function integer(opts: IntegerOptions & { default?: number }): Leaf<number | undefined> {
  return integerLeaf('integer', opts);
}

/** A duration in whole milliseconds. */
export function durationMs(opts: IntegerOptions & { default: number }): Leaf<number>;
export function durationMs(opts: IntegerOptions & OptionalSpec): Leaf<number | undefined>;
export function durationMs(opts: IntegerOptions & { default?: number }): Leaf<number | undefined> {
  return integerLeaf('duration_ms', opts);
}

/** A size in bytes. */
export function bytes(opts: IntegerOptions & { default: number }): Leaf<number> {
  return integerLeaf('bytes', opts) as Leaf<number>;
}

export function flag(opts: CommonOptions & { default: boolean }): Leaf<boolean> {
  return scalarLeaf<boolean>({
    ...opts,
    kind: 'boolean',
    typeLabel: 'boolean',
    expected: 'true or false',
    parse(v) {
      if (typeof v === 'boolean') return v;
      if (typeof v !== 'string') return INVALID;
      const lower = v.trim().toLowerCase();
      return lower === 'true' ? true : lower === 'false' ? false : INVALID;
    },
  });
}

/**
 * One of a fixed set of words, matched case-insensitively. `hints` explain words people try that are
 * not accepted (e.g. `grpc` for an OTLP/HTTP exporter), after the usual "expected …, got …".
 */
export function oneOf<const V extends string>(
  values: readonly V[],
  opts: CommonOptions & { default: NoInfer<V>; hints?: Readonly<Record<string, string>> },
): Leaf<V> {
  const expected = `one of ${values.join(' | ')}`;
  const { hints, ...common } = opts;
  return scalarLeaf<V>({
    ...common,
    kind: 'enum',
    typeLabel: values.join(' | '),
    expected,
    parse(v) {
      if (typeof v !== 'string') return INVALID;
      const lower = v.trim().toLowerCase();
      const found = values.find((candidate) => candidate === lower);
      if (found !== undefined) return found;
      const hint = hints !== undefined && Object.hasOwn(hints, lower) ? hints[lower] : undefined;
      return hint === undefined
        ? INVALID
        : new Problem(`expected ${expected}, got ${describeGot(v, false)}: ${hint}`);
    },
  });
}

/** A number in [min, max], fractions allowed (e.g. a sampling ratio). */
export function fraction(opts: CommonOptions & { min: number; max: number; default: number }): Leaf<number> {
  return scalarLeaf<number>({
    ...opts,
    kind: 'custom',
    typeLabel: `number, ${opts.min}–${opts.max}`,
    expected: `a number between ${opts.min} and ${opts.max}`,
    parse(v) {
      const n =
        typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v.trim()) : Number.NaN;
      return Number.isFinite(n) && n >= opts.min && n <= opts.max ? n : INVALID;
    },
  });
}

/** A value with its own textual form (e.g. `periodic,20000`), parsed into a structure. */
export function custom<T>(
  opts: CommonOptions & {
    default: T;
    typeLabel: string;
    expected: string;
    parse(text: string): T | Problem | Invalid;
    render(value: T): string;
  },
): Leaf<T> {
  return scalarLeaf<T>({
    ...opts,
    kind: 'custom',
    parse: (v) => (typeof v === 'string' ? opts.parse(v.trim()) : INVALID),
  });
}

/**
 * A list of words. From a file: a YAML list, or one comma-separated string (what `${env:NAME}`
 * produces); from the environment: comma-separated.
 */
export function listOf<const V extends string>(
  values: readonly V[],
  opts: CommonOptions & { default: readonly NoInfer<V>[]; minItems?: number },
): Leaf<readonly V[]> {
  const itemLabel = `one of ${values.join(' | ')}`;
  const minItems = opts.minItems ?? 0;
  return {
    node: 'leaf',
    kind: 'list',
    description: opts.description,
    default: opts.default,
    env: envList(opts.env),
    standardEnv: opts.standardEnv ?? [],
    secret: false,
    required: false,
    merge: 'replace',
    typeLabel: `list of ${values.join(' | ')}`,
    decode(node, cx, path) {
      let words: { word: ScalarValue; line: number | undefined }[];
      if (node.t === 'seq') {
        words = [];
        for (const [i, item] of node.items.entries()) {
          if (item.t !== 'scalar' || item.value === null) {
            cx.problem(
              `${path}[${i}]`,
              item.line,
              `expected ${itemLabel}, got ${describeNodeShape(item, false)}`,
            );
            return INVALID;
          }
          let word = item.value;
          if (typeof word === 'string' && cx.origin === 'file') {
            const expanded = cx.expand(word, `${path}[${i}]`, item.line, false);
            if (expanded === undefined) return INVALID;
            word = expanded;
          }
          words.push({ word, line: item.line ?? node.line });
        }
      } else if (node.t === 'scalar' && typeof node.value === 'string') {
        const raw = cx.origin === 'file' ? cx.expand(node.value, path, node.line, false) : node.value;
        if (raw === undefined) return INVALID;
        words = raw
          .split(',')
          .map((w) => w.trim())
          .filter((w) => w !== '')
          .map((word) => ({ word, line: node.line }));
      } else {
        cx.problem(
          path,
          node.line,
          `expected a list of ${values.join(' | ')}, got ${describeNodeShape(node, false)}`,
        );
        return INVALID;
      }
      const out: V[] = [];
      let ok = true;
      for (const [i, { word, line }] of words.entries()) {
        const lower = typeof word === 'string' ? word.trim().toLowerCase() : undefined;
        const found = values.find((v) => v === lower);
        if (found === undefined) {
          cx.problem(`${path}[${i}]`, line, `expected ${itemLabel}, got ${describeGot(word, false)}`);
          ok = false;
        } else if (!out.includes(found)) {
          out.push(found);
        }
      }
      if (!ok) return INVALID;
      if (out.length < minItems) {
        cx.problem(
          path,
          node.line,
          `expected at least ${minItems} of ${values.join(' | ')}, got an empty list`,
        );
        return INVALID;
      }
      return out;
    },
    render: (value) => [...value],
  };
}

/** RFC 9110 token: what an HTTP header name may contain. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * HTTP headers: a YAML mapping in files; `name=value,name2=value2` in the environment (values
 * percent-decoded, as OTEL_EXPORTER_OTLP_HEADERS). Names are lower-cased (HTTP names are
 * case-insensitive, and later sources must override earlier ones whatever the case).
 */
export function headerMap(opts: CommonOptions): Leaf<Readonly<Record<string, string>>> {
  const secret = opts.secret ?? false;
  const hidden = secret ? ' (value not shown: secret)' : '';
  return {
    node: 'leaf',
    kind: 'string_map',
    description: opts.description,
    default: {},
    env: envList(opts.env),
    standardEnv: opts.standardEnv ?? [],
    secret,
    required: false,
    merge: 'keys',
    typeLabel: 'map of header name → string',
    decode(node, cx, path) {
      const pairs: { name: string; value: string | undefined; line: number | undefined }[] = [];
      if (cx.origin === 'env') {
        if (node.t !== 'scalar' || typeof node.value !== 'string') return INVALID;
        const entries = node.value.split(',');
        for (const [i, entry] of entries.entries()) {
          if (entry.trim() === '') continue;
          const eq = entry.indexOf('=');
          if (eq < 0) {
            // The entry may be a credential missing its name: never echo it.
            cx.problem(
              path,
              undefined,
              `expected name=value pairs separated by commas; entry ${i + 1} has no "="`,
            );
            return INVALID;
          }
          const name = entry.slice(0, eq).trim();
          let value: string | undefined;
          try {
            value = decodeURIComponent(entry.slice(eq + 1).trim());
          } catch {
            cx.problem(
              path,
              undefined,
              `${HEADER_NAME.test(name) ? `header ${describeGot(name, false)}` : `entry ${i + 1}`}: malformed percent-encoding in the value${hidden}`,
            );
            return INVALID;
          }
          pairs.push({ name, value, line: undefined });
        }
      } else if (node.t === 'map') {
        for (const entry of node.entries) {
          const v = entry.value;
          if (v.t !== 'scalar' || v.value === null) {
            cx.problem(
              `${path}.${entry.key}`,
              entry.line,
              `expected a string, got ${v.t === 'scalar' ? 'nothing' : describeNodeShape(v, false)}`,
            );
            pairs.push({ name: entry.key, value: undefined, line: entry.line });
            continue;
          }
          const value =
            typeof v.value === 'string'
              ? cx.expand(v.value, `${path}.${entry.key}`, entry.line, secret)
              : String(v.value);
          pairs.push({ name: entry.key, value, line: entry.line });
        }
      } else {
        cx.problem(
          path,
          node.line,
          `expected a mapping of header names to values, got ${describeNodeShape(node, false)}`,
        );
        return INVALID;
      }
      const out: Record<string, string> = {};
      let ok = true;
      for (const [i, { name, value, line }] of pairs.entries()) {
        if (!HEADER_NAME.test(name)) {
          // A malformed name may be a pasted credential (`Bearer abc=`): for secret maps, say which entry only.
          const got = secret
            ? `entry ${i + 1} is not (name not shown: secret)`
            : `got ${describeGot(name, false)}`;
          cx.problem(
            path,
            line,
            `expected header names made of letters, digits and !#$%&'*+.^_\`|~-, ${got}`,
          );
          ok = false;
          continue;
        }
        if (value === undefined) {
          ok = false;
          continue;
        }
        // CR, LF and NUL would split or corrupt the HTTP request; other controls are refused by Node.
        if (hasControlCharacter(value, true)) {
          cx.problem(
            `${path}.${name.toLowerCase()}`,
            line,
            `invalid header value: contains a control character${hidden}`,
          );
          ok = false;
          continue;
        }
        out[name.toLowerCase()] = value.trim();
      }
      return ok ? out : INVALID;
    },
    render: (value) => ({ ...value }),
  };
}

/** A list of objects, each decoded against `item`; only files can set it. */
export function objectList<F extends Fields>(
  item: Section<F>,
  opts: {
    description: string;
    check?: (items: readonly Infer<Section<F>>[], report: (text: string) => void) => void;
    example?: readonly string[];
  },
): Leaf<readonly Infer<Section<F>>[]> {
  return {
    ...(opts.example && { example: opts.example }),
    node: 'leaf',
    kind: 'object_list',
    description: opts.description,
    default: [],
    env: false,
    standardEnv: [],
    secret: false,
    required: false,
    merge: 'replace',
    typeLabel: 'list of objects',
    item: item as unknown as Section<Fields>,
    decode(node, cx, path) {
      if (node.t === 'scalar' && node.value === null) return [];
      if (node.t !== 'seq') {
        cx.problem(path, node.line, `expected a list of objects, got ${describeNodeShape(node, false)}`);
        return INVALID;
      }
      const out: Infer<Section<F>>[] = [];
      let ok = true;
      for (const [i, itemNode] of node.items.entries()) {
        const decoded = decodeSection(item, itemNode, cx, `${path}[${i}]`);
        if (decoded === INVALID) ok = false;
        else out.push(decoded);
      }
      if (!ok) return INVALID;
      if (opts.check) {
        let failed = false;
        opts.check(out, (text) => {
          failed = true;
          cx.problem(path, node.line, text);
        });
        if (failed) return INVALID;
      }
      return out;
    },
    render: (value) => value.map((v) => renderSection(item, v)),
  };
}

// ---------------------------------------------------------------------------------------------
// Sections

export function section<const F extends Fields>(
  description: string,
  fields: F,
  check?: Section<F>['check'],
): Section<F> {
  return check ? { node: 'section', description, fields, check } : { node: 'section', description, fields };
}

/** The child named `key`, only if it is the section's own (never Object.prototype's). */
export function childOf(sectionNode: Section<Fields>, key: string): SchemaNode | undefined {
  return Object.hasOwn(sectionNode.fields, key) ? sectionNode.fields[key] : undefined;
}

/** The defaults of a whole section, as a configuration object. */
export function sectionDefaults<F extends Fields>(sectionNode: Section<F>): Infer<Section<F>> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(sectionNode.fields)) {
    out[key] = child.node === 'leaf' ? child.default : sectionDefaults(child);
  }
  return out as Infer<Section<F>>;
}

/** Decodes one object (a list item): defaults for what is absent, errors for unknown keys. */
export function decodeSection<F extends Fields>(
  sectionNode: Section<F>,
  node: InputNode,
  cx: DecodeContext,
  path: string,
): Infer<Section<F>> | Invalid {
  if (node.t !== 'map') {
    cx.problem(path, node.line, `expected a mapping, got ${describeNodeShape(node, false)}`);
    return INVALID;
  }
  const out: Record<string, unknown> = sectionDefaults(sectionNode);
  const given = new Set<string>();
  let ok = true;
  for (const entry of node.entries) {
    const child = childOf(sectionNode, entry.key);
    const childPath = `${path}.${entry.key}`;
    if (!child) {
      cx.problem(childPath, entry.line, unknownKeyText(entry.key, Object.keys(sectionNode.fields)));
      ok = false;
      continue;
    }
    given.add(entry.key);
    if (entry.value.t === 'scalar' && entry.value.value === null) continue;
    const value =
      child.node === 'leaf'
        ? child.decode(entry.value, cx, childPath)
        : decodeSection(child, entry.value, cx, childPath);
    if (value === INVALID) ok = false;
    else out[entry.key] = value;
  }
  for (const [key, child] of Object.entries(sectionNode.fields)) {
    if (child.node === 'leaf' && child.required && (!given.has(key) || out[key] === undefined)) {
      cx.problem(`${path}.${key}`, node.line, 'missing: this key is required');
      ok = false;
    }
  }
  if (!ok) return INVALID;
  const value = out as Infer<Section<F>>;
  if (sectionNode.check) {
    let failed = false;
    sectionNode.check(value, (key, text) => {
      failed = true;
      cx.problem(key === '' ? path : `${path}.${key}`, node.line, text);
    });
    if (failed) return INVALID;
  }
  return value;
}

/** A section's value as plain data, through each leaf's `render`. */
export function renderSection(sectionNode: Section<Fields>, value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const record = value as Record<string, unknown>;
  for (const [key, child] of Object.entries(sectionNode.fields)) {
    const v = record[key];
    out[key] =
      child.node === 'leaf' ? (v === undefined ? undefined : child.render(v)) : renderSection(child, v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// "Did you mean"

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** camelCase and kebab-case spellings of a snake_case key: gracePeriodMs → grace_period_ms. */
function toSnake(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
}

/** The known name closest to `given`, when close enough to be a plausible typo. */
export function nearest(given: string, known: readonly string[]): string | undefined {
  const normal = toSnake(given);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    let d = Math.min(editDistance(given, candidate), editDistance(normal, candidate.toLowerCase()));
    // A key missing its unit or qualifier (`timeout` for `timeout_ms`) is a near miss too.
    if (normal.length >= 4 && (candidate.startsWith(normal) || normal.startsWith(candidate)))
      d = Math.min(d, 1);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const tolerance = Math.max(2, Math.floor(given.length / 3));
  return bestDistance <= tolerance ? best : undefined;
}

export function unknownKeyText(key: string, known: readonly string[]): string {
  const suggestion = nearest(key, known);
  return suggestion
    ? `unknown key; did you mean "${suggestion}"?`
    : `unknown key; known keys here: ${known.join(', ')}`;
}

// Environment references inside configuration file values, with the OpenTelemetry Collector's
// syntax: `${env:NAME}`, `${env:NAME:-default}` (default when unset or empty), `${NAME}` (env is the
// default scheme), and `$$` for a literal `$`. A `$` followed by anything else is kept as is.
// Expanded text is never expanded again. `${secretsmanager:…}` and `${ssm:…}` are kept as written:
// they are resolved once at start-up, after loading (src/secrets).

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface SubstitutionIssues {
  /** A referenced variable is not set: it expands to the empty string. */
  missing(name: string): void;
  /** The reference itself is malformed; the whole value is rejected. */
  malformed(text: string): void;
}

export function expandEnvReferences(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  issues: SubstitutionIssues,
): string | undefined {
  // Fast path: most values have no `$` at all.
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
      continue;
    }
    if (next !== '{') {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      issues.malformed(`unterminated reference "${text.slice(dollar, dollar + 40)}": expected \${env:NAME}`);
      return undefined;
    }
    const inner = text.slice(dollar + 2, close);
    const resolved = resolveReference(inner, env, issues);
    if (resolved === undefined) return undefined;
    out += resolved;
    i = close + 1;
  }
  return out;
}

function resolveReference(
  inner: string,
  env: Readonly<Record<string, string | undefined>>,
  issues: SubstitutionIssues,
): string | undefined {
  let reference = inner;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):(?!-)/.exec(reference);
  if (scheme) {
    if (scheme[1] === 'secretsmanager' || scheme[1] === 'ssm') return `\${${inner}}`;
    if (scheme[1] !== 'env') {
      issues.malformed(
        `unsupported reference "\${${inner}}": expected \${env:NAME}, \${secretsmanager:ARN} or \${ssm:/name}`,
      );
      return undefined;
    }
    reference = reference.slice(scheme[0].length);
  }
  const split = reference.indexOf(':-');
  const name = split < 0 ? reference : reference.slice(0, split);
  const fallback = split < 0 ? undefined : reference.slice(split + 2);
  if (!NAME.test(name)) {
    issues.malformed(`invalid variable name in "\${${inner}}": expected letters, digits and _`);
    return undefined;
  }
  const value = env[name];
  if (fallback !== undefined) return value === undefined || value === '' ? fallback : value;
  if (value === undefined) {
    issues.missing(name);
    return '';
  }
  return value;
}

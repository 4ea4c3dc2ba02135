// Limits on what a configuration file may cost to read: its size, how deep it nests and how far its
// aliases expand. A file past one is refused with an error naming it (then pass-through, or an init
// error in strict mode), never a hang, a stack overflow or a heap filled by an alias bomb.

export interface ConfigLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxAliasedValues: number;
}

export const CONFIG_LIMITS: ConfigLimits = {
  /** Bytes read from one file; the layer's fully commented template is about 11 KiB. */
  maxBytes: 256 * 1024,
  /** Levels of nesting (mappings, sequences, flow collections); the schema needs 4. */
  maxDepth: 64,
  /** Values reached through aliases, counted after expansion. */
  maxAliasedValues: 10_000,
};

export interface ParseProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** `syntax`: the YAML is malformed; `limit`: well-formed, but past one of CONFIG_LIMITS. */
  readonly kind: 'syntax' | 'limit';
}

export interface ParsedFile {
  /** Undefined when the file holds no settings (empty, or only comments). */
  readonly root: import('./schema.js').InputNode | undefined;
  /** Syntax errors or limits exceeded, with their position; when any, `root` is undefined. */
  readonly errors: readonly ParseProblem[];
  readonly warnings: readonly { line: number; column: number; message: string }[];
}

/**
 * Where the text first nests deeper than `maxDepth`, or undefined. A linear scan that needs no
 * parser (neither reader may be handed a file that would exhaust its stack): block levels from
 * indentation and compact `- ` items, flow levels from brackets that open a value, skipping
 * quoted scalars, comments and block scalars. It may overcount only on exotic text (a plain scalar
 * opening a bracket after a comma), never undercounts a real collection.
 */
export function findExcessNesting(
  text: string,
  maxDepth: number = CONFIG_LIMITS.maxDepth,
): { line: number; column: number } | undefined {
  const indents: number[] = [];
  let flow = 0;
  let quote: "'" | '"' | undefined;
  let blockScalarIndent = -1; // lines indented more than this belong to a block scalar
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    let i = 0;
    while (i < line.length && line[i] === ' ') i++;
    const indent = i;
    const blank = i === line.length || line[i] === '#' || line[i] === '\r';
    if (blockScalarIndent >= 0) {
      if (blank || i > blockScalarIndent) continue;
      blockScalarIndent = -1;
    }
    if (quote === undefined && flow === 0) {
      if (blank) continue;
      while (indents.length > 0 && indents.at(-1)! >= i) indents.pop();
      indents.push(i);
    }
    let block = indents.length;
    // Token start: where a collection may open (after indentation, `- `, `? `, `: `, `,`, `[`, `{`).
    let tokenStart = true;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (quote !== undefined) {
        if (c === '\\' && quote === '"') i++;
        else if (c === quote) {
          if (quote === "'" && line[i + 1] === "'") i++;
          else quote = undefined;
        }
        continue;
      }
      if (c === ' ' || c === '\t') continue;
      if (c === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) break;
      const next = line[i + 1];
      const spaceAfter = next === undefined || next === ' ' || next === '\t' || next === '\r';
      if ((c === '-' || c === '?') && tokenStart && flow === 0 && spaceAfter) {
        block++;
      } else if ((c === '[' || c === '{') && tokenStart) {
        flow++;
      } else if ((c === ']' || c === '}') && flow > 0) {
        flow--;
        tokenStart = false;
        continue;
      } else if ((c === "'" || c === '"') && tokenStart) {
        quote = c;
        tokenStart = false;
        continue;
      } else if ((c === '|' || c === '>') && tokenStart && flow === 0) {
        blockScalarIndent = indents.at(-1) ?? 0;
        break;
      } else if (c === ':' && (spaceAfter || flow > 0)) {
        tokenStart = true;
        continue;
      } else if (c === ',' && flow > 0) {
        tokenStart = true;
        continue;
      } else {
        tokenStart = false;
        continue;
      }
      if (block + flow > maxDepth) return { line: lineNo, column: i + 1 };
      tokenStart = true;
    }
    if (block + flow > maxDepth) return { line: lineNo, column: indent + 1 };
  }
  return undefined;
}

// The full YAML 1.2 reader (the `yaml` library), for what the simple reader does not take and for
// precise syntax errors. config-file.ts imports this module on demand; it imports the library
// statically so that the bundler gives its named exports here, whatever module format the library
// ships in (a dynamic import of a CommonJS package yields only a default export once bundled).

import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
// Types only from config-limits.ts: a value import would turn it into a chunk of its own that
// start-up loads.
import type { ConfigLimits, ParsedFile, ParseProblem } from './config-limits.js';
import type { InputNode, MapEntry } from './schema.js';

class LimitExceeded extends Error {
  constructor(
    message: string,
    readonly at: { line: number; column: number },
  ) {
    super(message);
  }
}

export async function parseWithYamlLibrary(text: string, limits: ConfigLimits): Promise<ParsedFile> {
  const lineCounter = new LineCounter();
  // prettyErrors off: its code frame would quote the source line, which may hold a secret.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, column: pos.col };
  };
  const describe = (e: { pos: [number, number]; message: string }) => ({
    ...position(e.pos[0]),
    // Keep the first sentence only: later lines may quote the source.
    message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, ''),
  });
  const warnings = doc.warnings.map(describe);
  if (doc.errors.length > 0) {
    return { root: undefined, errors: doc.errors.map((e) => ({ ...describe(e), kind: 'syntax' })), warnings };
  }
  const lineOf = (node: Node | null | undefined) =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;

  // Values reached through aliases, counted: the library's own alias limit (maxAliasCount) applies
  // to toJS() only, and following `resolve()` by hand would expand an alias bomb in full.
  let aliased = 0;
  // resolve() walks the whole document each time: once per alias node is enough.
  const resolved = new Map<Node, Node | undefined>();
  const convert = (value: unknown, depth: number, viaAlias: boolean): InputNode => {
    let node = value as Node | null | undefined;
    if (depth > limits.maxDepth) {
      throw new LimitExceeded(`nested deeper than ${limits.maxDepth} levels`, position(node?.range?.[0]));
    }
    if (isAlias(node)) {
      const at = node.range?.[0];
      const alias = node;
      if (!resolved.has(alias)) resolved.set(alias, alias.resolve(doc) as Node | undefined);
      node = resolved.get(alias);
      viaAlias = true;
      if (aliased >= limits.maxAliasedValues) {
        throw new LimitExceeded(
          `aliases expand to more than ${limits.maxAliasedValues} values`,
          position(at),
        );
      }
    }
    if (viaAlias) aliased++;
    if (isMap(node)) {
      const entries: MapEntry[] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        entries.push({ key, line: lineOf(keyNode), value: convert(pair.value, depth + 1, viaAlias) });
      }
      return { t: 'map', entries, line: lineOf(node) };
    }
    if (isSeq(node)) {
      return {
        t: 'seq',
        items: node.items.map((item) => convert(item, depth + 1, viaAlias)),
        line: lineOf(node),
      };
    }
    if (isScalar(node)) {
      const v = node.value;
      const scalar =
        v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
          ? v
          : String(v);
      return { t: 'scalar', value: scalar, line: lineOf(node) };
    }
    return { t: 'scalar', value: null, line: lineOf(node) };
  };
  try {
    const root = convert(doc.contents, 0, false);
    return { root: root.t === 'scalar' && root.value === null ? undefined : root, errors: [], warnings };
  } catch (error) {
    if (!(error instanceof LimitExceeded)) throw error;
    const problem: ParseProblem = { ...error.at, message: error.message, kind: 'limit' };
    return { root: undefined, errors: [problem], warnings };
  }
}

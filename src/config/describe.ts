// The configuration as one log line, with secrets replaced and credentials in URLs hidden.

import { CONFIG_SCHEMA, type ExtensionConfig } from './extension-config.js';
import { type Fields, type Leaf, redactUrlText, type Section } from './schema.js';

const REDACTED = '<redacted>';

function redactLeaf(leaf: Leaf<unknown>, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (leaf.kind === 'string_map') {
    const map = value as Record<string, string>;
    // Header names are kept: they say which credentials are configured without revealing them.
    return Object.fromEntries(Object.keys(map).map((name) => [name, leaf.secret ? REDACTED : map[name]]));
  }
  if (leaf.secret) return REDACTED;
  if (leaf.kind === 'url') return redactUrlText(value as string);
  if (leaf.kind === 'object_list' && leaf.item) {
    const item = leaf.item;
    return (value as unknown[]).map((v) => redactSection(item, v));
  }
  return leaf.render(value);
}

function redactSection(node: Section<Fields>, value: unknown): Record<string, unknown> {
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node.fields)) {
    out[key] = child.node === 'leaf' ? redactLeaf(child, record[key]) : redactSection(child, record[key]);
  }
  return out;
}

/** JSON of the whole configuration for a debug log line; no secret ever appears in it. */
export function describeConfig(config: ExtensionConfig): string {
  return JSON.stringify(redactSection(CONFIG_SCHEMA, config));
}

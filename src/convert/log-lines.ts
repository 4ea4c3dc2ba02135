// The runtime's own prefixes on a log line, lifted into fields: Node's
// `<ISO time>\t<requestId>\t<LEVEL>\t<message>`, Python's `[LEVEL]\t<ISO time>\t<requestId>\t<message>`,
// or a level the line names itself (a leading level word, or a JSON object's `level`).

// SeverityNumber of the OpenTelemetry log data model (first step of each level).
const SEVERITY: Record<string, number> = {
  TRACE: 1,
  DEBUG: 5,
  INFO: 9,
  NOTICE: 10,
  WARN: 13,
  WARNING: 13,
  ERROR: 17,
  CRITICAL: 21,
  FATAL: 21,
};

const ISO_TIME = String.raw`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z`;
const LEVEL = 'TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL';
// Node.js runtime console format.
const NODE_LINE = new RegExp(`^(${ISO_TIME})\\t([^\\t]*)\\t(${LEVEL})\\t`, 's');
// Python runtime logging format.
const PYTHON_LINE = new RegExp(`^\\[(${LEVEL})\\]\\t(${ISO_TIME})\\t([^\\t]*)\\t`, 's');
// A level token opening the line: "[WARN] x", "ERROR: x", "INFO x".
const LEADING_LEVEL = new RegExp(`^\\[?(${LEVEL})\\]?(?::|\\s|$)\\s*`, 'i');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ParsedLine {
  body: string;
  level?: string;
  requestId?: string;
  timeMs?: number;
}

/** Lines longer than this are not read as JSON for their level (the cost of a parse per line). */
const MAX_JSON_LEVEL_LINE = 64 * 1024;
/** pino's numeric levels. */
const NUMERIC_LEVELS: ReadonlyArray<[number, string]> = [
  [60, 'FATAL'],
  [50, 'ERROR'],
  [40, 'WARN'],
  [30, 'INFO'],
  [20, 'DEBUG'],
  [10, 'TRACE'],
];

/**
 * The level a line's body names itself: a leading level word (`DEBUG …`, `[WARN] …`, `ERROR: …`)
 * or, for a JSON object, its `level` (a name, or pino's number).
 */
export function ownLevelOf(body: string): string | undefined {
  const m = LEADING_LEVEL.exec(body);
  if (m) return (m[1] as string).toUpperCase();
  if (body.length > MAX_JSON_LEVEL_LINE || body[0] !== '{' || !body.trimEnd().endsWith('}')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const level = (parsed as Record<string, unknown>).level;
  if (typeof level === 'string') {
    const upper = level.trim().toUpperCase();
    return SEVERITY[upper] === undefined ? undefined : upper;
  }
  if (typeof level === 'number') return NUMERIC_LEVELS.find(([n]) => level >= n)?.[1];
  return undefined;
}

/**
 * Lifts the runtime's prefix (time, request id, level) off a text line. The runtime's INFO (what
 * console.log and print get) gives way to the level the line names itself.
 */
export function parseTextLine(line: string): ParsedLine {
  let m = NODE_LINE.exec(line);
  if (m) {
    const body = line.slice(m[0].length);
    return {
      body,
      level: m[3] === 'INFO' ? (ownLevelOf(body) ?? 'INFO') : m[3],
      requestId: UUID.test(m[2] ?? '') ? m[2] : undefined,
      timeMs: Date.parse(m[1] as string),
    };
  }
  m = PYTHON_LINE.exec(line);
  if (m) {
    const body = line.slice(m[0].length);
    return {
      body,
      level: m[1] === 'INFO' ? (ownLevelOf(body) ?? 'INFO') : m[1],
      requestId: UUID.test(m[3] ?? '') ? m[3] : undefined,
      timeMs: Date.parse(m[2] as string),
    };
  }
  const level = ownLevelOf(line);
  return level === undefined ? { body: line } : { body: line, level };
}

/** SeverityNumber for a level name; undefined when the name is not a known level. */
export function severityNumberOf(level: string | undefined): number | undefined {
  return level === undefined ? undefined : SEVERITY[level.trim().toUpperCase()];
}

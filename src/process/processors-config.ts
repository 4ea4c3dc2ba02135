// The `processors` section of the configuration: filter, attributes and resource, named after the
// OpenTelemetry Collector's processors and following their semantics where they fit. Rules are
// checked here, at start, so a bad pattern or an action without its value is a configuration error
// with its key path, never a surprise at run time.

import {
  custom,
  type Infer,
  listOf,
  objectList,
  oneOf,
  Problem,
  type Section,
  section,
  text,
} from '../config/schema.js';
import type { Signal } from '../model/chunk.js';

const SIGNAL_NAMES = ['traces', 'metrics', 'logs'] as const satisfies readonly Signal[];

/** OpenTelemetry severity numbers where each range starts (TRACE=1 … FATAL=21). */
export const SEVERITY_NUMBERS = { trace: 1, debug: 5, info: 9, warn: 13, error: 17, fatal: 21 } as const;
type SeverityName = keyof typeof SEVERITY_NUMBERS;

function patternProblem(pattern: string | undefined): string | undefined {
  if (pattern === undefined) return undefined;
  try {
    new RegExp(pattern);
    return undefined;
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message}`;
  }
}

const nameField = text({ description: 'Matches when the name is exactly this.', env: false });
const namePatternField = text({
  description: 'Matches when the name matches this regular expression (JavaScript syntax, unanchored).',
  env: false,
});
const attributeField = text({
  description:
    'An attribute key; with `value`, matches when the attribute has that value, alone when it is present.',
  env: false,
});
const valueField = text({
  description: 'The attribute value to match (compared as text).',
  env: false,
});

function checkCondition(
  value: {
    name?: string | undefined;
    name_pattern?: string | undefined;
    attribute?: string | undefined;
    value?: string | undefined;
  },
  report: (key: string, text: string) => void,
  others: boolean,
): void {
  const problem = patternProblem(value.name_pattern);
  if (problem) report('name_pattern', problem);
  if (value.value !== undefined && value.attribute === undefined) report('value', 'needs `attribute`');
  if (
    value.name === undefined &&
    value.name_pattern === undefined &&
    value.attribute === undefined &&
    !others
  ) {
    report('', 'a condition needs at least one of name, name_pattern, attribute');
  }
}

const spanCondition = section(
  'Drops the span when every key given here matches.',
  { name: nameField, name_pattern: namePatternField, attribute: attributeField, value: valueField },
  (v, report) => checkCondition(v, report, false),
);

const metricCondition = section(
  'Drops the data point when every key given here matches (name and name_pattern: the metric name; attribute: the data point).',
  { name: nameField, name_pattern: namePatternField, attribute: attributeField, value: valueField },
  (v, report) => checkCondition(v, report, false),
);

const logCondition = section(
  'Drops the log record when every key given here matches.',
  {
    severity_below: custom<SeverityName | undefined>({
      default: undefined,
      typeLabel: 'trace | debug | info | warn | error | fatal',
      expected: 'one of trace | debug | info | warn | error | fatal',
      description:
        'Matches records whose severity number is below this level (records without a severity are not matched).',
      env: false,
      parse: (t) => {
        const lower = t.toLowerCase();
        return lower in SEVERITY_NUMBERS
          ? (lower as SeverityName)
          : new Problem(
              `expected one of trace | debug | info | warn | error | fatal, got ${JSON.stringify(t)}`,
            );
      },
      render: (v) => v ?? '',
    }),
    body_pattern: text({
      description: 'Matches when the body (as text) matches this regular expression.',
      env: false,
    }),
    attribute: attributeField,
    value: valueField,
  },
  (v, report) => {
    const problem = patternProblem(v.body_pattern);
    if (problem) report('body_pattern', problem);
    if (v.value !== undefined && v.attribute === undefined) report('value', 'needs `attribute`');
    if (v.severity_below === undefined && v.body_pattern === undefined && v.attribute === undefined) {
      report('', 'a condition needs at least one of severity_below, body_pattern, attribute');
    }
  },
);

const ACTIONS = ['insert', 'update', 'upsert', 'delete', 'hash'] as const;

function attributeAction(what: string) {
  return section(
    `One action on ${what}.`,
    {
      key: text({ description: 'The attribute key acted on.', env: false }),
      pattern: text({
        description: 'For delete and hash: every key matching this regular expression instead of one `key`.',
        env: false,
      }),
      action: oneOf(ACTIONS, {
        default: 'upsert',
        description:
          'insert: set when absent; update: set when present; upsert: set; delete: remove; hash: replace the value by its SHA-256 (hex).',
        env: false,
      }),
      value: text({ description: 'The value for insert, update and upsert (a string).', env: false }),
    },
    (v, report) => {
      const problem = patternProblem(v.pattern);
      if (problem) report('pattern', problem);
      if ((v.key === undefined) === (v.pattern === undefined))
        report('', 'needs exactly one of key, pattern');
      if (v.pattern !== undefined && v.action !== 'delete' && v.action !== 'hash') {
        report('pattern', `only delete and hash take a pattern, not ${v.action}`);
      }
      const needsValue = v.action === 'insert' || v.action === 'update' || v.action === 'upsert';
      if (needsValue && v.value === undefined) report('value', `${v.action} needs a value`);
      if (!needsValue && v.value !== undefined) report('value', `${v.action} takes no value`);
    },
  );
}

const itemAttributeAction = attributeAction('span, log record and data point attributes');
const signalsField = listOf(SIGNAL_NAMES, {
  default: SIGNAL_NAMES,
  minItems: 1,
  description: 'The signals the action applies to.',
  env: false,
});
const itemAction = section(itemAttributeAction.description, {
  ...itemAttributeAction.fields,
  signals: signalsField,
});
const checkedItemAction = { ...itemAction, check: itemAttributeAction.check } as Section<
  typeof itemAction.fields
>;

export const PROCESSORS_SECTION = section(
  "Rules applied to platform telemetry and to the function's own, in this order: filter, attributes, resource. The extension's self-telemetry is not processed.",
  {
    filter: section('Drops items that match any condition (the Collector `filter` processor).', {
      spans: objectList(spanCondition, {
        description: 'Span conditions.',
        example: ['- name_pattern: ^GET /(health|ready)$', '- attribute: http.route', '  value: /ping'],
      }),
      log_records: objectList(logCondition, {
        description: 'Log record conditions.',
        example: ['- severity_below: info', '- body_pattern: "^START RequestId"'],
      }),
      metrics: objectList(metricCondition, {
        description: 'Metric data point conditions.',
        example: ['- name: http.server.request.body.size'],
      }),
    }),
    attributes: objectList(checkedItemAction, {
      description:
        'Actions on item attributes (the Collector `attributes` processor), in order: spans, log records, metric data points.',
      example: [
        '- key: user.email',
        '  action: hash',
        '- pattern: ^http\\.request\\.header\\.',
        '  action: delete',
        '- key: team',
        '  action: insert',
        '  value: payments',
        '  signals: [traces, logs]',
      ],
    }),
    resource: objectList(attributeAction('resource attributes'), {
      description: 'Actions on resource attributes (the Collector `resource` processor), in order.',
      example: ['- key: deployment.environment.name', '  action: upsert', '  value: production'],
    }),
  },
);

export type ProcessorsConfig = Infer<typeof PROCESSORS_SECTION>;

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import {
  createExtensionLogger,
  isOwnLogLine,
  isOwnLogRecord,
  LOG_PREFIX,
  redact,
  redactHeaders,
  redactUrl,
  streamLineWriter,
} from '../../src/extension-log.js';
import { TelemetryParser } from '../../src/lambda/telemetry-parse.js';

function withEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env['LAMBDA_OTEL_LOG_LEVEL'];
  if (value === undefined) delete process.env['LAMBDA_OTEL_LOG_LEVEL'];
  else process.env['LAMBDA_OTEL_LOG_LEVEL'] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env['LAMBDA_OTEL_LOG_LEVEL'];
    else process.env['LAMBDA_OTEL_LOG_LEVEL'] = saved;
  }
}

describe('extension logger', () => {
  test('defaults to warn; LAMBDA_OTEL_LOG_LEVEL raises or lowers it', () => {
    const lines: string[] = [];
    const write = (l: string) => lines.push(l);
    const def = withEnv(undefined, () => createExtensionLogger({ write }));
    assert.equal(def.level, 'warn');
    def.info('hidden');
    def.warn('shown');
    assert.deepEqual(lines, [`${LOG_PREFIX} WARN shown\n`]);
    assert.equal(withEnv('DEBUG', () => createExtensionLogger({ write })).level, 'debug');
    const err = withEnv('error', () => createExtensionLogger({ write }));
    err.warn('hidden too');
    assert.equal(lines.length, 1);
  });

  test('an invalid level is reported and warn used', () => {
    const lines: string[] = [];
    const logger = withEnv('verbose', () => createExtensionLogger({ write: (l) => lines.push(l) }));
    assert.equal(logger.level, 'warn');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /LAMBDA_OTEL_LOG_LEVEL="verbose" is not one of error\|warn\|info\|debug/);
  });

  test('one line per message, errors described with status and code', () => {
    const lines: string[] = [];
    const logger = createExtensionLogger({ level: 'debug', write: (l) => lines.push(l) });
    logger.error('multi\nline\r\nmessage', Object.assign(new Error('refused'), { status: 503, code: 'EX' }));
    assert.equal(lines.length, 1);
    assert.equal(lines[0], `${LOG_PREFIX} ERROR multi\\nline\\nmessage: Error: refused (status 503, EX)\n`);
    assert.equal(lines[0]!.split('\n').length, 2);
  });

  test('once() writes a kind once, even across levels', () => {
    const lines: string[] = [];
    const logger = createExtensionLogger({ level: 'info', write: (l) => lines.push(l) });
    assert.equal(logger.once('k', 'warn', 'first'), true);
    assert.equal(logger.once('k', 'warn', 'again'), false);
    assert.equal(logger.once('d', 'debug', 'below level'), false);
    assert.equal(logger.once('other', 'info', 'second kind'), true);
    assert.equal(lines.length, 2);
  });

  test('own lines are recognised when they come back as extension telemetry', () => {
    const lines: string[] = [];
    createExtensionLogger({ level: 'info', write: (l) => lines.push(l) }).info('exported 3 spans');
    const line = lines[0]!;
    assert.ok(isOwnLogLine(line));
    assert.ok(!isOwnLogLine('[other-extension] INFO hi'));
    const parser = new TelemetryParser({
      logger: createExtensionLogger({ level: 'error', write: () => {} }),
    });
    const T = '2024-05-01T10:00:00Z';
    const [text, json, foreign, fromFunction] = parser.parseRecords([
      { time: T, type: 'extension', record: line },
      { time: T, type: 'extension', record: { timestamp: T, level: 'INFO', message: line } },
      { time: T, type: 'extension', record: 'another extension speaking' },
      { time: T, type: 'function', record: line },
    ]);
    assert.ok(isOwnLogRecord(text!));
    assert.ok(isOwnLogRecord(json!));
    assert.ok(!isOwnLogRecord(foreign!));
    assert.ok(!isOwnLogRecord(fromFunction!), 'only extension records are ours');
  });
});

describe('redaction', () => {
  test('header values are redacted except harmless ones', () => {
    const out = redactHeaders({
      'dd-api-key': 'abcd1234secret',
      Authorization: 'Bearer xyz',
      'x-custom': 'v',
      'Content-Type': 'application/x-protobuf',
      'content-encoding': 'gzip',
    });
    assert.deepEqual(out, {
      'dd-api-key': '<redacted>',
      Authorization: '<redacted>',
      'x-custom': '<redacted>',
      'Content-Type': 'application/x-protobuf',
      'content-encoding': 'gzip',
    });
    assert.ok(!JSON.stringify(out).includes('secret'));
    assert.equal(redact('abcd1234secret'), '<redacted>');
  });
  test('URLs lose credentials and query values', () => {
    const safe = redactUrl('https://user:pw@otlp.example.com:4318/v1/traces?api_key=SECRET&x=1#frag');
    assert.equal(safe, 'https://otlp.example.com:4318/v1/traces?api_key=<redacted>&x=<redacted>');
    assert.equal(redactUrl('http://localhost:4318/v1/logs'), 'http://localhost:4318/v1/logs');
    assert.equal(redactUrl('not a url with SECRET'), '<redacted>');
  });
});

test('a failed stream (EPIPE) stops the writer instead of raising or writing again', () => {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      written.push(String(chunk));
      done();
    },
  });
  const write = streamLineWriter(stream);
  write('first\n');
  // Without a listener this 'error' would throw (an uncaught exception in the extension).
  stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  write('second\n');
  assert.deepEqual(written, ['first\n']);
});

// The start-up path helpers give node:path.posix's and node:url's answers: on a table of the
// awkward cases, then on generated paths made of the pieces that matter ('/', '.', '..', names).

import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import {
  dirnamePath,
  isAbsolutePath,
  joinPath,
  normalizePath,
  pathOfFileUrl,
} from '../../src/platform/paths.js';

const TABLE = [
  '',
  '.',
  '..',
  '/',
  '//',
  '///',
  'a',
  '/a',
  'a/',
  '/a/',
  '//a',
  '//a/b',
  'a//b',
  '/a//b/',
  './a',
  'a/.',
  'a/./b',
  'a/..',
  'a/../',
  '../a',
  '../../a/..',
  '/..',
  '/../a',
  '/a/../..',
  'a/b/../../..',
  '/opt/otel-lambda-extension/bin/otel-lambda-extension',
  '/opt/otel-lambda-extension/../extensions',
  '/var/task/',
  'x/.../y',
  '.a/..b/c.',
];

describe('POSIX path helpers', () => {
  it('agree with node:path.posix on the awkward cases', () => {
    for (const path of TABLE) {
      assert.equal(normalizePath(path), posix.normalize(path), `normalize ${JSON.stringify(path)}`);
      assert.equal(dirnamePath(path), posix.dirname(path), `dirname ${JSON.stringify(path)}`);
      assert.equal(isAbsolutePath(path), posix.isAbsolute(path), `isAbsolute ${JSON.stringify(path)}`);
      for (const other of TABLE) {
        assert.equal(joinPath(path, other), posix.join(path, other), `join ${JSON.stringify([path, other])}`);
      }
    }
    assert.equal(joinPath(), posix.join());
    assert.equal(joinPath('/opt/otel-lambda-extension', '..', 'extensions'), '/opt/extensions');
  });

  const segment = fc.constantFrom('', '.', '..', '...', 'a', 'b', 'config.yaml', ' ', 'é');
  const path = fc
    .tuple(fc.boolean(), fc.array(segment, { maxLength: 8 }))
    .map(([absolute, segments]) => (absolute ? '/' : '') + segments.join('/'));

  it('agree with node:path.posix on generated paths', () => {
    fc.assert(
      fc.property(path, (p) => {
        assert.equal(normalizePath(p), posix.normalize(p));
        assert.equal(dirnamePath(p), posix.dirname(p));
        assert.equal(isAbsolutePath(p), posix.isAbsolute(p));
      }),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(fc.array(path, { maxLength: 4 }), (parts) => {
        assert.equal(joinPath(...parts), posix.join(...parts));
      }),
      { numRuns: 2_000 },
    );
  });

  it('turn file: URLs into paths as node:url does, and refuse what it refuses', () => {
    for (const p of ['/opt/otel-lambda-extension/index.mjs', '/a b/%/é/#?x', '/']) {
      const url = pathToFileURL(p);
      assert.equal(pathOfFileUrl(url), fileURLToPath(url));
      assert.equal(pathOfFileUrl(url.href), p);
    }
    for (const bad of ['https://example.com/a', 'file://host/a', 'file:///a%2Fb', 'file:///a%2fb']) {
      assert.throws(() => fileURLToPath(bad), TypeError);
      assert.throws(() => pathOfFileUrl(bad), TypeError);
    }
  });
});

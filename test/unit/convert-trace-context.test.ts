// Reading Lambda's trace context: the X-Ray header value and W3C traceparent.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTraceparent, parseXRayTraceHeader } from '../../src/convert/index.js';

describe('parseXRayTraceHeader', () => {
  it('reads Root, Parent and Sampled, ignoring other keys', () => {
    assert.deepEqual(
      parseXRayTraceHeader(
        'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0',
      ),
      { traceId: '5759e988bd862e3fe1be46a994272793', parentSpanId: '53995c3f42cd8ad8', sampled: true },
    );
  });

  it('accepts any key order, spaces and upper-case hex', () => {
    assert.deepEqual(
      parseXRayTraceHeader(
        ' Sampled=0 ; Parent=53995C3F42CD8AD8 ; Root=1-5759E988-BD862E3FE1BE46A994272793 ',
      ),
      {
        traceId: '5759e988bd862e3fe1be46a994272793',
        parentSpanId: '53995c3f42cd8ad8',
        sampled: false,
      },
    );
  });

  it('gives a trace without Parent, and leaves a deferred decision open', () => {
    assert.deepEqual(parseXRayTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?'), {
      traceId: '5759e988bd862e3fe1be46a994272793',
    });
  });

  it('drops malformed parts and needs a valid Root', () => {
    assert.equal(parseXRayTraceHeader('Parent=53995c3f42cd8ad8;Sampled=1'), undefined);
    assert.equal(parseXRayTraceHeader('Root=2-5759e988-bd862e3fe1be46a994272793'), undefined);
    assert.equal(parseXRayTraceHeader('Root=1-5759e988-bd862e3fe1be46a99427279'), undefined);
    assert.equal(parseXRayTraceHeader('Root=1-00000000-000000000000000000000000'), undefined);
    assert.equal(parseXRayTraceHeader('Root=1-5759e988-bd862e3fe1be46a99427279x'), undefined);
    assert.equal(parseXRayTraceHeader(''), undefined);
    assert.equal(parseXRayTraceHeader(';;;='), undefined);
    assert.deepEqual(
      parseXRayTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz;Sampled=yes'),
      {
        traceId: '5759e988bd862e3fe1be46a994272793',
      },
    );
  });
});

describe('parseTraceparent', () => {
  it('reads a W3C traceparent', () => {
    assert.deepEqual(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentSpanId: 'b7ad6b7169203331',
      sampled: true,
    });
    assert.equal(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00')?.sampled, false);
  });

  it('rejects invalid ones', () => {
    assert.equal(parseTraceparent('ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), undefined);
    assert.equal(parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01'), undefined);
    assert.equal(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'), undefined);
    assert.equal(parseTraceparent('nonsense'), undefined);
  });
});

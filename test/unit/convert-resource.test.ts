// The platform resource: environment, register answer, OTEL_* variables, lazily learnt ARN.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PlatformResource,
  parseResourceAttributes,
  unqualifiedFunctionArn,
} from '../../src/convert/index.js';
import { SequentialIds } from '../support/telemetry-fixtures.js';

const ENV = {
  AWS_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'orders-api',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769',
};

describe('OTEL_RESOURCE_ATTRIBUTES', () => {
  it('parses pairs, trims and percent-decodes keys and values', () => {
    assert.deepEqual(parseResourceAttributes(' a=1 , b%2Ec = x%2Cy%3Dz ,, c=%F0%9F%98%80').attributes, {
      a: '1',
      'b.c': 'x,y=z',
      c: '😀',
    });
    assert.deepEqual(parseResourceAttributes('empty=').attributes, { empty: '' });
    assert.deepEqual(parseResourceAttributes(undefined), { attributes: {} });
  });

  it('discards the whole value on a malformed pair and says why', () => {
    for (const raw of ['a=1,b', 'a=1,=2', 'a=1,b=%zz', 'a=b=c']) {
      const parsed = parseResourceAttributes(raw);
      assert.deepEqual(parsed.attributes, {}, raw);
      assert.match(parsed.error ?? '', /OTEL_RESOURCE_ATTRIBUTES/, raw);
    }
    const resource = new PlatformResource(
      { ...ENV, OTEL_RESOURCE_ATTRIBUTES: 'a=1,broken' },
      new SequentialIds(),
    );
    assert.equal(resource.problems.length, 1);
    assert.equal(resource.attributes().a, undefined);
  });
});

describe('PlatformResource', () => {
  it('builds the FaaS resource from the environment', () => {
    const attrs = new PlatformResource(ENV, new SequentialIds()).get().attributes;
    assert.equal(attrs['cloud.provider'], 'aws');
    assert.equal(attrs['cloud.platform'], 'aws_lambda');
    assert.equal(attrs['cloud.region'], 'eu-west-1');
    assert.equal(attrs['faas.name'], 'orders-api');
    assert.equal(attrs['faas.max_memory'], 1769 * 1048576);
    assert.deepEqual(attrs['aws.log.group.names'], ['/aws/lambda/orders-api']);
    assert.equal(attrs['service.name'], 'orders-api');
    assert.equal(attrs['cloud.resource_id'], undefined, 'no ARN without account or INVOKE');
    assert.equal(typeof attrs['faas.instance'], 'string');
  });

  it('lets OTEL_SERVICE_NAME win over OTEL_RESOURCE_ATTRIBUTES, and both over detection', () => {
    const both = new PlatformResource(
      {
        ...ENV,
        OTEL_SERVICE_NAME: 'checkout',
        OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored,cloud.region=override',
      },
      new SequentialIds(),
    ).attributes();
    assert.equal(both['service.name'], 'checkout');
    assert.equal(both['cloud.region'], 'override');
    const attrOnly = new PlatformResource(
      { ...ENV, OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' },
      new SequentialIds(),
    ).attributes();
    assert.equal(attrOnly['service.name'], 'from-attrs');
  });

  it('derives the function ARN from region and account before any INVOKE, and keeps the object when INVOKE agrees', () => {
    const resource = new PlatformResource(ENV, new SequentialIds());
    resource.setRegistration({
      functionName: 'orders-api',
      functionVersion: '$LATEST',
      handler: 'h',
      accountId: '123456789012',
    });
    const before = resource.get();
    assert.equal(
      before.attributes['cloud.resource_id'],
      'arn:aws:lambda:eu-west-1:123456789012:function:orders-api',
    );
    assert.equal(before.attributes['cloud.account.id'], '123456789012');
    assert.equal(
      resource.setInvokedArn('arn:aws:lambda:eu-west-1:123456789012:function:orders-api:blue'),
      'arn:aws:lambda:eu-west-1:123456789012:function:orders-api',
    );
    assert.equal(resource.get(), before, 'same Resource object: nothing changed');
  });

  it('learns the ARN and account from the first INVOKE when register gave no account', () => {
    const resource = new PlatformResource({ ...ENV, AWS_REGION: 'cn-north-1' }, new SequentialIds());
    const before = resource.get();
    assert.equal(before.attributes['faas.id'], undefined);
    resource.setInvokedArn('arn:aws-cn:lambda:cn-north-1:210987654321:function:orders-api:7');
    const after = resource.get();
    assert.notEqual(after, before);
    assert.equal(
      after.attributes['faas.id'],
      'arn:aws-cn:lambda:cn-north-1:210987654321:function:orders-api',
    );
    assert.equal(after.attributes['cloud.account.id'], '210987654321');
    assert.equal(after.attributes['faas.instance'], before.attributes['faas.instance'], 'instance stays');
  });

  it('takes instanceId before the first export, and keeps an exported faas.instance', () => {
    const fresh = new PlatformResource(ENV, new SequentialIds());
    fresh.setInstance('lmi-1');
    assert.equal(fresh.get().attributes['faas.instance'], 'lmi-1');
    const used = new PlatformResource(ENV, new SequentialIds());
    const first = used.get().attributes['faas.instance'];
    used.setInstance('late');
    assert.equal(used.get().attributes['faas.instance'], first);
    used.setInstance(undefined, true);
    assert.notEqual(used.get().attributes['faas.instance'], first, 'a restore renews it');
  });

  it('uses runtime-only variables when they are visible', () => {
    const attrs = new PlatformResource(
      {
        ...ENV,
        AWS_LAMBDA_LOG_GROUP_NAME: '/custom/group',
        AWS_LAMBDA_LOG_STREAM_NAME: '2025/06/01/[$LATEST]abc',
      },
      new SequentialIds(),
    ).attributes();
    assert.deepEqual(attrs['aws.log.group.names'], ['/custom/group']);
    assert.equal(attrs['faas.instance'], '2025/06/01/[$LATEST]abc');
  });

  it('falls back to report/initStart memory only when the environment has none', () => {
    const { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: _omit, ...noMemory } = ENV;
    const resource = new PlatformResource(noMemory, new SequentialIds());
    assert.equal(resource.attributes()['faas.max_memory'], undefined);
    resource.setMaxMemoryMiB(2048);
    resource.setMaxMemoryMiB(128);
    assert.equal(resource.attributes()['faas.max_memory'], 2048 * 1048576);
  });
});

describe('unqualifiedFunctionArn', () => {
  it('strips alias and version qualifiers and rejects what is not a function ARN', () => {
    assert.equal(
      unqualifiedFunctionArn('arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST'),
      'arn:aws:lambda:us-east-1:123456789012:function:f',
    );
    assert.equal(
      unqualifiedFunctionArn('arn:aws:lambda:us-east-1:123456789012:function:f'),
      'arn:aws:lambda:us-east-1:123456789012:function:f',
    );
    assert.equal(unqualifiedFunctionArn('arn:aws:s3:::bucket'), undefined);
    assert.equal(unqualifiedFunctionArn('garbage'), undefined);
  });
});

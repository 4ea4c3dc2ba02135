import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { executionArnOfLine } from '../../src/convert/durable.js';
import { durableExecutionArn, parseExecutionArn } from '../../src/durable/attributes.js';
import { MAX_EXECUTION_ARN_CHARS } from '../../src/durable/execution-arn.js';

const PREFIX = 'arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/';

/** A well-formed execution ARN of exactly `length` characters. */
function arnOfLength(length: number): string {
  const id = 'x'.repeat(length - PREFIX.length - 'run-1/'.length);
  return `${PREFIX}run-1/${id}`;
}

describe('durable execution ARN', () => {
  test("Lambda's documented bound holds on both sides: 1024 characters kept, 1025 refused", () => {
    assert.equal(MAX_EXECUTION_ARN_CHARS, 1024);
    const longest = arnOfLength(1024);
    const tooLong = arnOfLength(1025);
    assert.equal(durableExecutionArn({ DurableExecutionArn: longest }), longest);
    assert.equal(durableExecutionArn({ DurableExecutionArn: tooLong }), undefined);
    assert.equal(executionArnOfLine('', { executionArn: longest }), longest);
    assert.equal(executionArnOfLine('', { executionArn: tooLong }), undefined);
    assert.equal(executionArnOfLine(JSON.stringify({ executionArn: tooLong }), undefined), undefined);
  });

  test('name and id come from the documented shape; another shape keeps only the ARN', () => {
    assert.deepEqual(parseExecutionArn(`${PREFIX}order-42/0f1e2d`), {
      arn: `${PREFIX}order-42/0f1e2d`,
      name: 'order-42',
      id: '0f1e2d',
    });
    assert.deepEqual(parseExecutionArn('arn:aws:lambda:us-east-1:123456789012:function:orders'), {
      arn: 'arn:aws:lambda:us-east-1:123456789012:function:orders',
    });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { userMessage, verboseMessage } from '../../src/cli/error-message.js';
import { canSpin } from '../../src/cli/progress.js';

describe('what a failed command prints', () => {
  it('turns a raw gRPC status into a line a person can act on', () => {
    const msg = userMessage(new Error('14 UNAVAILABLE: No connection established'));
    assert.doesNotMatch(msg, /14|UNAVAILABLE/);
    assert.match(msg, /could not reach an etcd server/);
    assert.match(msg, /cmesh cluster start/);
    assert.match(msg, /--verbose/);
  });

  it('says what a status means without advice that does not fit it', () => {
    const msg = userMessage(new Error('8 RESOURCE_EXHAUSTED: request is too large'));
    assert.match(msg, /too large/);
    assert.doesNotMatch(msg, /cluster start/, 'a too-large request is not fixed by starting the cluster');
  });

  it('keeps our own messages as they are', () => {
    const msg = 'cluster "west" is stopped; start it with `cmesh cluster start west`';
    assert.equal(userMessage(new Error(msg)), msg);
  });

  it('shows causes and stacks only in the verbose form', () => {
    const err = new Error('outer', { cause: new Error('14 UNAVAILABLE: inner') });
    const v = verboseMessage(err);
    assert.match(v, /outer/);
    assert.match(v, /caused by: Error: 14 UNAVAILABLE: inner/);
    assert.match(v, /\n\s+at /, 'the stack is there');
    assert.doesNotMatch(userMessage(err), /\n/);
  });
});

describe('progress display', () => {
  const stream = (isTTY: boolean, columns: number): NodeJS.WriteStream =>
    ({ isTTY, columns }) as unknown as NodeJS.WriteStream;

  it('spins only on a terminal wide enough to draw a line', () => {
    const saved = process.env.CI;
    delete process.env.CI;
    try {
      assert.equal(canSpin(stream(true, 80)), true);
      assert.equal(canSpin(stream(true, 0)), false, 'a zero-width terminal gets plain lines');
      assert.equal(canSpin(stream(false, 80)), false, 'a pipe gets plain lines');
    } finally {
      if (saved !== undefined) process.env.CI = saved;
    }
  });
});

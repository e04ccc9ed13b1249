// McastPipeline (src/client/mcast-pipeline.ts): order under go-back-N refusals, the fast
// retry (initialDelayMs or nudge, for fastRetryWindowMs) and the doubling backoff after
// it, and the timeout. Virtual time: jest's fake timers plus an injected clock.

import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { type McastAnswer, McastPipeline } from '../../../src/client/mcast-pipeline';

interface Sent {
  payload: string;
  seq: number;
  answer: (a: McastAnswer) => void;
}

let clockMs = 0;
let sent: Sent[] = [];

function pipeline(overrides: { window?: number; fastRetryWindowMs?: number; timeoutMs?: number } = {}): McastPipeline {
  return new McastPipeline({
    window: overrides.window ?? 4,
    initialDelayMs: 1,
    maxDelayMs: 8,
    fastRetryWindowMs: overrides.fastRetryWindowMs ?? 50,
    timeoutMs: overrides.timeoutMs ?? 10_000,
    now: () => clockMs,
    send: (payload, _group, seq) => new Promise<McastAnswer>((resolve) => sent.push({ payload: Buffer.from(payload).toString(), seq, answer: resolve })),
    failure: (answer) => new Error(`refused: ${answer}`),
  });
}

/** Answers every request in flight (oldest first) from `answers`, then lets the promises settle. */
async function answerAll(answers: (s: Sent) => McastAnswer): Promise<string[]> {
  const batch = sent;
  sent = [];
  for (const s of batch) s.answer(answers(s));
  await jest.advanceTimersByTimeAsync(0);
  return batch.map((s) => `${s.payload}#${s.seq}`);
}

async function advance(ms: number): Promise<void> {
  clockMs += ms;
  await jest.advanceTimersByTimeAsync(ms);
}

beforeEach(() => {
  jest.useFakeTimers();
  clockMs = 0;
  sent = [];
});

afterEach(() => {
  jest.useRealTimers();
});

const bytes = (s: string): Uint8Array => Buffer.from(s);

describe('McastPipeline', () => {
  it('keeps order through a refusal: the refused message and all after it go again, in order', async () => {
    const p = pipeline();
    const done: string[] = [];
    for (const m of ['a', 'b', 'c']) void p.push('g', bytes(m)).then(() => done.push(m));
    await jest.advanceTimersByTimeAsync(0);
    expect(await answerAll((s) => (s.payload === 'a' ? 'queued' : s.payload === 'b' ? 'full' : 'try-again'))).toEqual(['a#0', 'b#1', 'c#2']);
    expect(done).toEqual(['a']);
    // Nothing is resent before the retry delay (or a nudge).
    expect(sent).toEqual([]);
    await advance(1);
    expect(await answerAll(() => 'queued')).toEqual(['b#1', 'c#2']);
    expect(done).toEqual(['a', 'b', 'c']);
    expect(p.idle).toBe(true);
  });

  it('a nudge brings a fast retry forward; after fastRetryWindowMs the backoff doubles and nudges wait', async () => {
    const p = pipeline({ fastRetryWindowMs: 5 });
    void p.push('g', bytes('x'));
    await jest.advanceTimersByTimeAsync(0);
    await answerAll(() => 'full');
    p.nudge();
    expect(sent.map((s) => s.payload)).toEqual(['x']);
    // Refusals for longer than the window: 1, 2, 4, 8, 8 ms, and nudges no longer help.
    const delays: number[] = [];
    clockMs += 6;
    for (let k = 0; k < 5; k += 1) {
      await answerAll(() => 'full');
      p.nudge();
      expect(sent).toEqual([]);
      let waited = 0;
      while (sent.length === 0) {
        await advance(1);
        waited += 1;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([1, 2, 4, 8, 8]);
    // Success resets the backoff: the next refusal is fast again.
    await answerAll(() => 'queued');
    void p.push('g', bytes('y'));
    await jest.advanceTimersByTimeAsync(0);
    await answerAll(() => 'full');
    p.nudge();
    expect(sent.map((s) => s.payload)).toEqual(['y']);
  });

  it('rejects a message refused for longer than timeoutMs, and a final refusal at once', async () => {
    const p = pipeline({ timeoutMs: 20, fastRetryWindowMs: 0 });
    const outcome = p.push('g', bytes('z')).then(
      () => 'resolved',
      (e: unknown) => String(e),
    );
    await jest.advanceTimersByTimeAsync(0);
    for (let k = 0; k < 10 && sent.length > 0; k += 1) {
      await answerAll(() => 'full');
      await advance(8);
    }
    expect(await outcome).toBe('Error: refused: full');
    const other = p.push('g', bytes('n')).then(
      () => 'resolved',
      (e: unknown) => String(e),
    );
    await jest.advanceTimersByTimeAsync(0);
    await answerAll(() => 'not-joined');
    expect(await other).toBe('Error: refused: not-joined');
  });

  it('never has more than `window` in flight', async () => {
    const p = pipeline({ window: 2 });
    for (const m of ['1', '2', '3', '4', '5']) void p.push('g', bytes(m));
    await jest.advanceTimersByTimeAsync(0);
    const rounds: string[][] = [];
    while (sent.length > 0) {
      expect(sent.length).toBeLessThanOrEqual(2);
      rounds.push(await answerAll(() => 'queued'));
    }
    expect(rounds.flat()).toEqual(['1#0', '2#1', '3#2', '4#3', '5#4']);
  });
});

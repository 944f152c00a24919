// The job runner: each job runs on its timer and never overlaps itself, runNow joins a run in
// progress and runs once more, a failing run is logged and the job keeps its schedule, and
// stop() waits for the runs in progress.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { JobRunner } from '../../src/jobs/runner.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

// The runner's timers do not hold the process open (a server's sockets do): this one does, meanwhile.
const keepAlive = setInterval(() => {}, 1000);
after(() => clearInterval(keepAlive));

describe('JobRunner', () => {
  test('runs a job repeatedly on its timer, one run at a time', async () => {
    const runner = new JobRunner({ error: () => {} });
    let active = 0;
    let most = 0;
    let runs = 0;
    const fifth = deferred();
    runner.add({
      name: 'tick',
      every: 5,
      run: async () => {
        most = Math.max(most, ++active);
        await new Promise((r) => setTimeout(r, 3));
        active--;
        if (++runs === 5) fifth.resolve();
      },
    });
    runner.start();
    await fifth.promise;
    await runner.stop();
    assert.equal(most, 1, 'never two runs of one job at once');
    assert.ok(runner.runs('tick') >= 5);
  });

  test('runNow waits for a run in progress, runs once more, and rejects with its error; the failure is logged', async () => {
    const errors: object[] = [];
    const runner = new JobRunner({ error: (obj) => errors.push(obj) });
    const gate = deferred();
    const started = deferred();
    let calls = 0;
    runner.add({
      name: 'job',
      every: 3600_000,
      run: async () => {
        calls++;
        if (calls === 1) {
          started.resolve();
          await gate.promise;
          return;
        }
        throw new Error('boom');
      },
    });
    const first = runner.runNow('job');
    await started.promise;
    const second = runner.runNow('job');
    gate.resolve();
    await first;
    await assert.rejects(second, /boom/);
    assert.equal(calls, 2);
    assert.equal(errors.length, 1);
    await assert.rejects(runner.runNow('missing'), /no job named missing/);
    await runner.stop();
  });

  test('stop() waits for a run in progress', async () => {
    const runner = new JobRunner({ error: () => {} });
    const gate = deferred();
    const started = deferred();
    let finished = false;
    runner.add({
      name: 'slow',
      every: 1,
      run: async () => {
        started.resolve();
        await gate.promise;
        finished = true;
      },
    });
    runner.start();
    await started.promise;
    const stopping = runner.stop();
    gate.resolve();
    await stopping;
    assert.equal(finished, true);
  });
});

// The runtime of each pass of scripts/test.sh. test.sh says which Node.js major a pass is meant to run on
// (BERTH_TEST_NODE_MAJOR: 24 for the main pass, 20 for the Node 20 passes); the test runner, the `node` on
// PATH (what `npm start` runs) and the server the suite starts (process.execPath, as every e2e test does)
// must all be that major, so a Node 24 pass that quietly ran on Node 20 fails here.
// Also the AWS SDK's NodeVersionSupportWarning, which Node 20 prints at every start in S3 mode: gone on 22+.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startBerth } from '../helpers/berth-process.js';
import { sleep, tempDir } from '../helpers/shared.js';

const expected = process.env.BERTH_TEST_NODE_MAJOR;
const major = (version: string) => Number(/^v?(\d+)\./.exec(version.trim())?.[1]);

describe('Node.js runtime of this test pass', () => {
  it('the test runner and the node on PATH are the major scripts/test.sh chose (BERTH_TEST_NODE_MAJOR)', () => {
    assert.match(expected ?? '', /^\d+$/, 'BERTH_TEST_NODE_MAJOR is set by scripts/test.sh for each pass: run this file through npm test');
    assert.equal(major(process.version), Number(expected), `test runner on ${process.version}`);
    const onPath = spawnSync('node', ['-v'], { encoding: 'utf8' });
    assert.equal(onPath.status, 0, onPath.stderr);
    assert.equal(major(onPath.stdout), Number(expected), `node on PATH is ${onPath.stdout.trim()}`);
  });

  it('the server the suite starts reports that major at start-up; the AWS SDK warns about the version on Node 20 only', async () => {
    const dir = tempDir('runtime');
    const reg = await startBerth({
      name: 'runtime',
      env: {
        REGISTRY_LOG_LEVEL: 'info',
        // S3 mode makes the SDK check the version; the endpoint is never called before a request.
        REGISTRY_STORAGE: 's3',
        REGISTRY_STORAGE_S3_BUCKET: 'b',
        REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://127.0.0.1:1',
        REGISTRY_METADATA_SQLITE_PATH: path.join(dir, 'berth.db'),
      },
    });
    try {
      let line: { runtime?: string; msg: string } | undefined;
      const deadline = Date.now() + 10_000;
      while (!line) {
        line = readFileSync(reg.logFile, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { runtime?: string; msg: string })
          .find((l) => l.msg?.startsWith('Berth serving'));
        if (!line && Date.now() > deadline) assert.fail(`no start-up line:\n${reg.logTail()}`);
        if (!line) await sleep(50);
      }
      assert.match(line.runtime ?? '', /^Node\.js v\d+\.\d+\.\d+$/);
      assert.equal(major(line.runtime!.replace('Node.js ', '')), Number(expected), line.msg);
      assert.ok(line.msg.includes(` on ${line.runtime};`), line.msg);
      const log = readFileSync(reg.logFile, 'utf8');
      if (Number(expected) < 22) assert.match(log, /NodeVersionSupportWarning/, 'the pinned AWS SDK warns on Node 20');
      else assert.doesNotMatch(log, /NodeVersionSupportWarning/);
    } finally {
      await reg.dispose();
    }
  });
});

// Version ordering per ecosystem, checked against vectors from each tool's own test suite
// (dpkg's t-version.c and Debian policy, each also checked with `dpkg --compare-versions`; rpm's tests/rpmvercmp.at, apk-tools' test/version.data,
// packaging's test_version.py for PEP 440, semver for npm and Go).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { compareApk, compareDpkg, comparePep440, compareRpm, compareSemver, comparatorFor } from '../../src/scan/analyze/versions/index.js';
import { rpmvercmp } from '../../src/scan/analyze/versions/rpm.js';

const sign = (n: number) => Math.sign(n);

/** Every pair of a list that is in ascending order compares accordingly. */
function assertAscending(compare: (a: string, b: string) => number, list: string[]) {
  for (let i = 0; i < list.length; i++) {
    for (let j = 0; j < list.length; j++) {
      assert.equal(sign(compare(list[i], list[j])), sign(i - j), `${list[i]} vs ${list[j]}`);
    }
  }
}

describe('dpkg version ordering', () => {
  it('orders by epoch, upstream version and revision, with ~ before everything', () => {
    // Debian policy 5.6.12: ~~ < ~~a < ~ < (empty) < a
    assertAscending(compareDpkg, ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0a']);
    const cases: [string, string, number][] = [
      // dpkg lib/dpkg/t/t-version.c
      ['0:1.0', '1.0', 0],
      ['1.0', '1.0-0', 0],
      ['1.0-1', '1.0-2', -1],
      ['1:0.1', '0:9.9', 1],
      ['1.2.3', '1.2.3-0', 0],
      ['0.0.9', '0.0.10', -1],
      ['2.7.4+reloaded2-13ubuntu1', '2.7.4+reloaded2-13+deb9u1', -1],
      ['0-pre', '0-pre', 0],
      ['0-pre', '0-pree', -1],
      ['1.1.6r2-2', '1.1.6r-1', 1],
      ['2.6b2-1', '2.6b-2', 1],
      ['98.1p5-1', '98.1-pre2-b6-2', -1],
      ['0.4a6-2', '0.4-1', 1],
      ['1:3.6.1-1', '1:3.6.1', 1],
      ['00:0.0.0', '0.0.0', 0],
      ['3.0.11-1~deb12u2', '3.0.11-1~deb12u3', -1],
      ['3.0.11-1~deb12u2', '3.0.11-1', -1],
      ['3.0.11-1~deb12u2', '3.0.13-1~deb12u1', -1],
      ['2.36-9+deb12u4', '2.36-9+deb12u10', -1],
    ];
    for (const [a, b, want] of cases) assert.equal(sign(compareDpkg(a, b)), want, `${a} vs ${b}`);
  });
});

describe('dpkg version ordering against dpkg itself', () => {
  it('agrees with dpkg --compare-versions on the versions installed on this machine', () => {
    const versions = [
      ...new Set(
        readFileSync('/var/lib/dpkg/status', 'utf8')
          .match(/^Version: .+$/gm)!
          .map((l) => l.slice(9).trim()),
      ),
    ];
    assert.ok(versions.length > 100, `${versions.length} versions`);
    // neighbours in a sorted list differ in few characters: the comparisons that matter
    const sorted = [...versions].sort();
    const pairs: [string, string][] = [];
    for (let i = 0; i + 1 < sorted.length && pairs.length < 150; i += 2) pairs.push([sorted[i], sorted[i + 1]]);
    for (let i = 0; i < 50; i++) pairs.push([versions[(i * 7919) % versions.length], versions[(i * 104729 + 13) % versions.length]]);
    const script =
      'while [ $# -gt 0 ]; do if dpkg --compare-versions "$1" lt "$2"; then echo -1; elif dpkg --compare-versions "$1" eq "$2"; then echo 0; else echo 1; fi; shift 2; done';
    const want = execFileSync('bash', ['-c', script, 'bash', ...pairs.flat()], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    assert.equal(want.length, pairs.length);
    for (const [i, [a, b]] of pairs.entries()) assert.equal(Math.sign(compareDpkg(a, b)), want[i], `${a} vs ${b}`);
  });
});

describe('rpm version ordering', () => {
  it('matches rpm tests/rpmvercmp.at', () => {
    const cases: [string, string, number][] = [
      ['1.0', '1.0', 0],
      ['1.0', '2.0', -1],
      ['2.0', '1.0', 1],
      ['2.0.1', '2.0.1', 0],
      ['2.0', '2.0.1', -1],
      ['2.0.1', '2.0', 1],
      ['2.0.1a', '2.0.1a', 0],
      ['2.0.1a', '2.0.1', 1],
      ['2.0.1', '2.0.1a', -1],
      ['5.5p1', '5.5p1', 0],
      ['5.5p1', '5.5p2', -1],
      ['5.5p2', '5.5p1', 1],
      ['5.5p10', '5.5p10', 0],
      ['5.5p1', '5.5p10', -1],
      ['5.5p10', '5.5p1', 1],
      ['10xyz', '10.1xyz', -1],
      ['10.1xyz', '10xyz', 1],
      ['xyz10', 'xyz10', 0],
      ['xyz10', 'xyz10.1', -1],
      ['xyz10.1', 'xyz10', 1],
      ['xyz.4', 'xyz.4', 0],
      ['xyz.4', '8', -1],
      ['8', 'xyz.4', 1],
      ['xyz.4', '2', -1],
      ['2', 'xyz.4', 1],
      ['5.5p2', '5.6p1', -1],
      ['5.6p1', '5.5p2', 1],
      ['5.6p1', '6.5p1', -1],
      ['6.5p1', '5.6p1', 1],
      ['6.0.rc1', '6.0', 1],
      ['6.0', '6.0.rc1', -1],
      ['10b2', '10a1', 1],
      ['10a2', '10b2', -1],
      ['1.0aa', '1.0aa', 0],
      ['1.0a', '1.0aa', -1],
      ['1.0aa', '1.0a', 1],
      ['10.0001', '10.0001', 0],
      ['10.0001', '10.1', 0],
      ['10.1', '10.0001', 0],
      ['10.0001', '10.0039', -1],
      ['10.0039', '10.0001', 1],
      ['4.999.9', '5.0', -1],
      ['5.0', '4.999.9', 1],
      ['20101121', '20101121', 0],
      ['20101121', '20101122', -1],
      ['20101122', '20101121', 1],
      ['2_0', '2_0', 0],
      ['2.0', '2_0', 0],
      ['2_0', '2.0', 0],
      ['a', 'a', 0],
      ['a+', 'a+', 0],
      ['a+', 'a_', 0],
      ['a_', 'a+', 0],
      ['+a', '+a', 0],
      ['+a', '_a', 0],
      ['_a', '+a', 0],
      ['+_', '+_', 0],
      ['_+', '+_', 0],
      ['_+', '_+', 0],
      ['+', '_', 0],
      ['_', '+', 0],
      ['1.0~rc1', '1.0~rc1', 0],
      ['1.0~rc1', '1.0', -1],
      ['1.0', '1.0~rc1', 1],
      ['1.0~rc1', '1.0~rc2', -1],
      ['1.0~rc2', '1.0~rc1', 1],
      ['1.0~rc1~git123', '1.0~rc1~git123', 0],
      ['1.0~rc1~git123', '1.0~rc1', -1],
      ['1.0~rc1', '1.0~rc1~git123', 1],
      // caret (rpm >= 4.15)
      ['1.0^', '1.0^', 0],
      ['1.0^', '1.0', 1],
      ['1.0', '1.0^', -1],
      ['1.0^git1', '1.0^git1', 0],
      ['1.0^git1', '1.0', 1],
      ['1.0', '1.0^git1', -1],
      ['1.0^git1', '1.0^git2', -1],
      ['1.0^git2', '1.0^git1', 1],
      ['1.0^git1', '1.01', -1],
      ['1.01', '1.0^git1', 1],
      ['1.0^20160101', '1.0^20160101', 0],
      ['1.0^20160101', '1.0.1', -1],
      ['1.0.1', '1.0^20160101', 1],
      ['1.0^20160101^git1', '1.0^20160101^git1', 0],
      ['1.0^20160102', '1.0^20160101^git1', 1],
      ['1.0^20160101^git1', '1.0^20160102', -1],
      ['1.0~rc1^git1', '1.0~rc1^git1', 0],
      ['1.0~rc1^git1', '1.0~rc1', 1],
      ['1.0~rc1', '1.0~rc1^git1', -1],
      ['1.0^git1~pre', '1.0^git1~pre', 0],
      ['1.0^git1', '1.0^git1~pre', 1],
      ['1.0^git1~pre', '1.0^git1', -1],
    ];
    for (const [a, b, want] of cases) assert.equal(rpmvercmp(a, b), want, `rpmvercmp(${a}, ${b})`);
  });
  it('compares epoch, then version, then release', () => {
    assert.equal(compareRpm('1:3.0.7-24.el9', '3.0.7-25.el9'), 1);
    assert.equal(compareRpm('0:3.0.7-24.el9', '3.0.7-24.el9'), 0);
    assert.equal(compareRpm('1:3.0.7-24.el9', '1:3.0.7-25.el9'), -1);
    assert.equal(compareRpm('1:3.0.7-24.el9_2', '1:3.0.7-24.el9'), 1);
    assert.equal(compareRpm('2.34-60.el9', '2.34-100.el9'), -1);
  });
});

describe('apk version ordering', () => {
  it('matches apk-tools test/version.data', () => {
    // a selection of apk-tools' vectors, including every token kind
    const lines = `2.34 > 0.1.0_alpha
23_foo > 4_beta
1.0 < 1.0bc
0.1.0_alpha = 0.1.0_alpha
0.1.0_alpha < 0.1.3_alpha
0.1.0_alpha2 > 0.1.0_alpha
0.1.0_alpha < 2.2.39-r1
1.0.4-r3 < 1.0.4-r4
1.1 > 1.1_alpha1
1.3_alpha2 < 1.3_alpha3
0.8_beta4 < 4.8-r1
3.10.18-r1 > 2.3.0b-r1
2.3.0b-r1 < 2.3.0b-r2
0.12.3 > 0.12
0.12 < 0.13_beta1
0.2.0-r1 < 3.1_p16
3.1_p16 < 3.1_p17
1.06-r6 < 006
006 > 1.0.0
1.2.2-r1 > 1.2.2
2.59 < 20050718-r1
3.9.8-r5 > 2.01.01_alpha10
2.01.01_alpha10 > 0.94
1.0 > 0.99.3.20040818
1.39 > 1.00_beta2
4.2.52_p2-r1 < 4.2.52_p4-r2
1.05-r18 < 1.05-r19
3.0.0-r2 < 021109-r3
0.9.16-r1 < 3.9_pre20060124
1.1.7 < 6b-r7
0.10.0 < 0.10.1_rc1
2.0.2 > 1.1a
0.15.1b-r2 > 0.15.1b
22.7 > 2.1_pre20
02.08.01b < 4.77
3.81 > 1.6d
1.2.07.8 < 1.2.12.04
0.59s-r11 < 0.65
0.20070118 < 0.20070207_rc1
3.7_p1 > 1.3
4.5_p1-r1 > 4.5_p1
0.9.8c-r1 < 0.9.8d
2.2.3-r2 < 013
1.8.5 < 1.8.5_p2
2.9.11_pre20051101-r3 > 2.9.11_pre20051101
1.6.8_p12-r1 > 1.6.8_p9-r2
2.12r-r4 < 2.12r-r5
7.0.17 < 7.0.174
1.3-r0 < 1.3.1-r0
1.3_pre1-r1 < 1.3.2
1.0_p10-r0 > 1.0_p9-r0
0.1.0_alpha_pre2 < 0.1.0_alpha
1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0`;
    const op: Record<string, number> = { '<': -1, '=': 0, '>': 1 };
    for (const line of lines.split('\n')) {
      const [a, o, b] = line.trim().split(/\s+/);
      assert.equal(compareApk(a, b), op[o], line);
      assert.equal(compareApk(b, a), -op[o] || 0, `${b} vs ${a}`);
    }
  });
  it('orders Alpine releases as secdb fixes name them', () => {
    assertAscending(compareApk, ['1.36.1-r5', '1.36.1-r15', '1.36.1-r16', '1.36.2-r0', '3.1.4-r5', '3.1.4-r6']);
  });
});

describe('PEP 440 version ordering', () => {
  it('matches packaging test_version.py', () => {
    assertAscending(comparePep440, [
      '1.0.dev456',
      '1.0a1',
      '1.0a2.dev456',
      '1.0a12.dev456',
      '1.0a12',
      '1.0b1.dev456',
      '1.0b2',
      '1.0b2.post345.dev456',
      '1.0b2.post345',
      '1.0b2-346',
      '1.0c1.dev456',
      '1.0c1',
      '1.0rc2',
      '1.0c3',
      '1.0',
      '1.0.post456.dev34',
      '1.0.post456',
      '1.1.dev1',
      '1.2+123abc',
      '1.2+123abc456',
      '1.2+abc',
      '1.2+abc123',
      '1.2+abc123def',
      '1.2+1234.abc',
      '1.2+123456',
      '1.2.r32+123456',
      '1.2.rev33+123456',
      '1!1.0.dev456',
      '1!1.0a1',
      '1!1.0a2.dev456',
      '1!1.0a12.dev456',
      '1!1.0a12',
      '1!1.0b1.dev456',
      '1!1.0b2',
      '1!1.0b2.post345.dev456',
      '1!1.0b2.post345',
      '1!1.0b2-346',
      '1!1.0c1.dev456',
      '1!1.0c1',
      '1!1.0rc2',
      '1!1.0c3',
      '1!1.0',
      '1!1.0.post456.dev34',
      '1!1.0.post456',
      '1!1.1.dev1',
      '1!1.2+123abc',
      '1!1.2+123abc456',
      '1!1.2+abc',
      '1!1.2+abc123',
      '1!1.2+abc123def',
      '1!1.2+1234.abc',
      '1!1.2+123456',
      '1!1.2.r32+123456',
      '1!1.2.rev33+123456',
    ]);
  });
  it('normalises equivalent spellings', () => {
    for (const [a, b] of [
      ['1.0', '1.0.0'],
      ['1.0alpha1', '1.0a1'],
      ['1.0-rc.1', '1.0rc1'],
      ['v2.0', '2.0'],
      ['1.0-1', '1.0.post1'],
      ['1.0.DEV', '1.0.dev0'],
    ]) {
      assert.equal(comparePep440(a, b), 0, `${a} == ${b}`);
    }
    assert.throws(() => comparePep440('not a version', '1.0'));
  });
});

describe('semver ordering (npm, Go)', () => {
  it('orders pre-releases before releases and ignores a v prefix', () => {
    assertAscending(compareSemver, [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
    ]);
    assert.equal(compareSemver('v0.3.5', '0.3.7'), -1);
    assert.equal(compareSemver('v0.0.0-20210226172049-e18ecbb05110', '0.0.0-20211112202133-69e39bad7dc2'), -1);
    assert.throws(() => compareSemver('1.0', '1.0.0'));
  });
  it('picks the ordering by OSV ecosystem', () => {
    assert.equal(comparatorFor('Debian:12'), compareDpkg);
    assert.equal(comparatorFor('Alpine:v3.19'), compareApk);
    assert.equal(comparatorFor('Red Hat:enterprise_linux:9::appstream'), compareRpm);
    assert.equal(comparatorFor('PyPI'), comparePep440);
    assert.equal(comparatorFor('Go'), compareSemver);
    assert.equal(comparatorFor('Maven'), null);
  });
});

// Alpine (apk-tools) version ordering: digit{.digit}...{letter}{_suffix{#}}...{-r#}. Pre-release suffixes
// (_alpha, _beta, _pre, _rc) sort before the bare version, post-release ones (_cvs, _svn, _git, _hg, _p) after;
// a leading-zero component compares as a fraction. Follows apk-tools' tokenizer, token for token.

const DIGIT_OR_ZERO = 0;
const DIGIT = 1;
const LETTER = 2;
const SUFFIX = 3;
const SUFFIX_NO = 4;
const REVISION_NO = 5;
const END = 6;
const INVALID = -1;

const PRE = ['alpha', 'beta', 'pre', 'rc'];
const POST = ['cvs', 'svn', 'git', 'hg', 'p'];

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isLower = (c: string | undefined) => c !== undefined && c >= 'a' && c <= 'z';

class Tokens {
  type = DIGIT;
  pos = 0;
  constructor(readonly s: string) {}

  private nextType(): void {
    const s = this.s;
    let n = INVALID;
    const t = this.type;
    if (this.pos >= s.length) n = END;
    else if ((t === DIGIT || t === DIGIT_OR_ZERO) && isLower(s[this.pos])) n = LETTER;
    else if (t === LETTER && isDigit(s[this.pos])) n = DIGIT;
    else if (t === SUFFIX && isDigit(s[this.pos])) n = SUFFIX_NO;
    else {
      const c = s[this.pos];
      if (c === '.') n = DIGIT_OR_ZERO;
      else if (c === '_') n = SUFFIX;
      else if (c === '-') {
        if (s[this.pos + 1] === 'r') {
          n = REVISION_NO;
          this.pos++;
        }
      }
      this.pos++;
    }
    if (n < t && !((n === DIGIT_OR_ZERO && t === DIGIT) || (n === SUFFIX && t === SUFFIX_NO) || (n === DIGIT && t === LETTER))) n = INVALID;
    this.type = n;
  }

  /** The value of the token at the cursor; advances to the next one and sets its type. */
  next(): number {
    const s = this.s;
    if (this.pos >= s.length) {
      this.type = END;
      return 0;
    }
    let v = 0;
    let i = this.pos;
    let nt = INVALID;
    // a component with leading zeros compares as a fraction: more zeros, smaller
    if (this.type === DIGIT_OR_ZERO && s[i] === '0') {
      while (s[i] === '0') i++;
      nt = DIGIT;
      v = -(i - this.pos);
    } else {
      switch (this.type) {
        case DIGIT_OR_ZERO:
        case DIGIT:
        case SUFFIX_NO:
        case REVISION_NO:
          while (isDigit(s[i])) v = v * 10 + (s.charCodeAt(i++) - 48);
          break;
        case LETTER:
          v = s.charCodeAt(i++);
          break;
        case SUFFIX: {
          const rest = s.slice(i);
          const pre = PRE.findIndex((p) => rest.startsWith(p));
          if (pre >= 0) {
            v = pre - PRE.length;
            i += PRE[pre].length;
            break;
          }
          const post = POST.findIndex((p) => rest.startsWith(p));
          if (post >= 0) {
            v = post;
            i += POST[post].length;
            break;
          }
          this.type = INVALID;
          return -1;
        }
        default:
          this.type = INVALID;
          return -1;
      }
    }
    this.pos = i;
    if (this.pos >= s.length) this.type = END;
    else if (nt !== INVALID) this.type = nt;
    else this.nextType();
    return v;
  }
}

export function compareApk(a: string, b: string): number {
  const x = new Tokens(a.trim());
  const y = new Tokens(b.trim());
  let av = 0;
  let bv = 0;
  while (x.type === y.type && x.type !== END && x.type !== INVALID && av === bv) {
    av = x.next();
    bv = y.next();
  }
  if (av < bv) return -1;
  if (av > bv) return 1;
  if (x.type === y.type) return 0;
  // equal so far: the longer version is newer unless what follows is a pre-release suffix
  if (x.type === SUFFIX && peekSuffix(x) < 0) return -1;
  if (y.type === SUFFIX && peekSuffix(y) < 0) return 1;
  if (x.type > y.type) return -1;
  if (y.type > x.type) return 1;
  return 0;
}

function peekSuffix(t: Tokens): number {
  const copy = new Tokens(t.s);
  copy.type = t.type;
  copy.pos = t.pos;
  return copy.next();
}

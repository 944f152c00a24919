// Markdown for READMEs and comments, rendered on the server so every client shows
// the same inert HTML: markdown-it with raw HTML off (tags are escaped, never
// passed through), links and images only to http(s), mailto (links) and relative
// targets (no javascript:, vbscript:, data:, file:), and every link marked
// rel="nofollow ugc" so user content passes no search-engine credit.
import MarkdownIt from 'markdown-it';

type Renderer = MarkdownIt['renderer']['rules'][string] & {};

const SAFE_SCHEME = /^(https?:|mailto:)/i;
/** A scheme is a letter then letters, digits, "+", "-" or "." up to a colon. */
const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** True for http(s) and mailto URLs and for scheme-less (relative, #anchor) ones. */
export function safeUrl(url: string, allowMailto = true): boolean {
  // markdown-it has already decoded entities and normalised the URL; strip what browsers ignore.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: browsers ignore these in URLs, so they are stripped
  const u = url.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
  if (u.startsWith('//')) return true; // protocol-relative: the page's own scheme (http or https)
  if (!HAS_SCHEME.test(u)) return !/^[a-z][a-z0-9+.-]*&#|^[a-z]+%3a/i.test(u);
  if (!allowMailto && /^mailto:/i.test(u)) return false;
  return SAFE_SCHEME.test(u);
}

function build(opts: { images: boolean; headings: boolean }): MarkdownIt {
  const md = new MarkdownIt('default', { html: false, linkify: true, typographer: false, breaks: !opts.headings });
  // Deeply nested lists or quotes are a cheap way to make rendering slow; stop nesting early.
  (md.options as { maxNesting?: number }).maxNesting = 20;
  md.validateLink = (url: string) => safeUrl(url);
  if (!opts.images) md.disable('image');
  if (!opts.headings) md.disable(['heading', 'lheading']);

  const defaultLinkOpen: Renderer = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    tokens[idx].attrSet('rel', 'nofollow ugc noopener');
    return defaultLinkOpen(tokens, idx, options, env, self);
  };
  const defaultImage: Renderer = md.renderer.rules.image!;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    const src = tokens[idx].attrGet('src') ?? '';
    // Images load from the web only (no data: or relative paths into this registry's API).
    if (!/^https?:\/\//i.test(src)) return md.utils.escapeHtml(tokens[idx].content);
    tokens[idx].attrSet('loading', 'lazy');
    tokens[idx].attrSet('referrerpolicy', 'no-referrer');
    return defaultImage(tokens, idx, options, env, self);
  };
  return md;
}

const readmeRenderer = build({ images: true, headings: true });
const commentRenderer = build({ images: false, headings: false });

/** A README: full Markdown (headings, tables, images from http(s)), no raw HTML. */
export function renderReadme(source: string): string {
  return readmeRenderer.render(source);
}

/** A comment: paragraphs, emphasis, code, lists, quotes and links; no images or headings. */
export function renderComment(source: string): string {
  return commentRenderer.render(source);
}

// Which webhooks an event goes to: event types and a glob over tag names.
import type { RegistryEvent } from '../registry/events.js';
import { WEBHOOK_EVENTS, type WebhookEventType } from './schema.js';

const GLOB_MAX = 128;

/** A tag glob: `*` any run of characters, `?` one character; everything else literal. Anchored. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Tag characters plus the two wildcards; null when valid, else the reason. */
export function invalidTagPattern(glob: string): string | null {
  if (glob.length === 0 || glob.length > GLOB_MAX) return `tag pattern must be 1 to ${GLOB_MAX} characters`;
  if (!/^[A-Za-z0-9_.*?-]+$/.test(glob)) return 'tag pattern may contain letters, digits, "_", ".", "-" and the wildcards "*" and "?"';
  return null;
}

export function parseEvents(text: string): WebhookEventType[] {
  return text.split(',').filter((e): e is WebhookEventType => (WEBHOOK_EVENTS as readonly string[]).includes(e));
}

/**
 * Does the event pass a webhook's filters? A tag pattern applies to events about
 * tags: pushes and tag deletes match by their tag, and pushes by digest and manifest
 * deletes (no tag) do not match a pattern. Repository events ignore the pattern.
 */
export function eventMatches(e: RegistryEvent, events: readonly WebhookEventType[], tagPattern: string | null): boolean {
  if (!events.includes(e.type)) return false;
  if (!tagPattern || e.type === 'repository.create' || e.type === 'repository.delete' || e.type === 'quota.warning' || e.type === 'signature.failed')
    return true;
  return e.tag !== undefined && globToRegExp(tagPattern).test(e.tag);
}

// Text helpers shared by the composer and the tweet renderer: code-point counting (the
// server's rule: 1..280 code points after trimming), splitting content into text, @mention,
// #hashtag and URL pieces, and human-friendly times.

export const TWEET_MAX = 280;
export const MESSAGE_MAX = 1000;
/** A collaborative draft while it is edited (publishing needs TWEET_MAX after trimming). */
export const DRAFT_MAX = 1000;

/** Unicode code points, as the server counts them (an emoji with a skin tone counts 2). */
export function codePoints(s: string): number {
    let n = 0;
    for (const _ of s) n++;
    return n;
}

/** What the server will count: code points after trimming white space. */
export function postLength(s: string): number {
    return codePoints(s.trim());
}

export function isPostable(s: string, max = TWEET_MAX): boolean {
    const n = postLength(s);
    return n >= 1 && n <= max;
}

export type Piece =
    | { kind: 'text'; text: string }
    | { kind: 'mention'; text: string; handle: string }
    | { kind: 'hashtag'; text: string; tag: string }
    | { kind: 'url'; text: string; href: string };

// @handle: 1..15 of [A-Za-z0-9_], not preceded by a word character (so e-mail addresses stay
// text). #tag: letters, digits, underscore. URLs: http(s) up to white space.
const TOKEN = /(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'])|(?<![\p{L}\p{N}_])@([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_])|(?<![\p{L}\p{N}_&])#([\p{L}\p{N}_]+)/gu;

/**
 * Split content into pieces. `mentions` (from the server) limits which @handles become links;
 * when it is absent every @handle does.
 */
export function tokenize(content: string, mentions?: readonly string[]): Piece[] {
    const known = mentions ? new Set(mentions.map((m) => m.toLowerCase())) : null;
    const out: Piece[] = [];
    let last = 0;
    const push = (p: Piece) => {
        const prev = out[out.length - 1];
        if (p.kind === 'text' && prev?.kind === 'text') prev.text += p.text;
        else out.push(p);
    };
    for (const m of content.matchAll(TOKEN)) {
        const start = m.index ?? 0;
        if (start > last) push({ kind: 'text', text: content.slice(last, start) });
        if (m[1]) {
            push({ kind: 'url', text: m[1], href: m[1] });
        } else if (m[2]) {
            if (!known || known.has(m[2].toLowerCase())) push({ kind: 'mention', text: m[0], handle: m[2] });
            else push({ kind: 'text', text: m[0] });
        } else if (m[3]) {
            push({ kind: 'hashtag', text: m[0], tag: m[3] });
        }
        last = start + m[0].length;
    }
    if (last < content.length) push({ kind: 'text', text: content.slice(last) });
    return out;
}

/** "now", "42s", "5m", "3h", "Nov 27", "Nov 27, 2025" */
export function relativeTime(iso: string, now = Date.now()): string {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return '';
    const s = Math.max(0, Math.round((now - t) / 1000));
    if (s < 5) return 'now';
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m`;
    if (s < 86400) return `${Math.floor(s / 3600)}h`;
    const d = new Date(t);
    const sameYear = d.getFullYear() === new Date(now).getFullYear();
    return d.toLocaleDateString(undefined, sameYear ? { month: 'short', day: 'numeric' } : { year: 'numeric', month: 'short', day: 'numeric' });
}

export function fullTime(iso: string): string {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return iso;
    return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function compactNumber(n: number): string {
    if (!Number.isFinite(n)) return '0';
    if (Math.abs(n) < 1000) return String(Math.round(n * 100) / 100);
    if (Math.abs(n) < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0).replace(/\.0$/, '')}K`;
    return `${(n / 1_000_000).toFixed(1).replace(/\.0$/, '')}M`;
}

/** A stable hue for an avatar, from the handle. */
export function hueFor(handle: string): number {
    let h = 0;
    for (const c of handle.toLowerCase()) h = (h * 31 + (c.codePointAt(0) ?? 0)) >>> 0;
    return h % 360;
}

export function initial(name: string): string {
    const first = [...name.trim()][0];
    return first ? first.toUpperCase() : '?';
}

/** Handles typed as "@bob, carol dave" → ["bob", "carol", "dave"]. */
export function parseHandles(input: string): string[] {
    const out: string[] = [];
    for (const raw of input.split(/[\s,;]+/)) {
        const h = raw.replace(/^@/, '').trim();
        if (h && !out.some((x) => x.toLowerCase() === h.toLowerCase())) out.push(h);
    }
    return out;
}

export const HANDLE_RE = /^[A-Za-z0-9_]{3,15}$/;

/** "1 tweet", "3 tweets" (compact numbers for large counts). */
export function plural(n: number, one: string, many = `${one}s`): string {
    return `${compactNumber(n)} ${n === 1 ? one : many}`;
}

import { describe, expect, it } from 'vitest';
import { codePoints, isPostable, parseHandles, postLength, relativeTime, tokenize, TWEET_MAX } from './text';

describe('counting', () => {
    it('counts code points, not UTF-16 units', () => {
        expect(codePoints('héllo')).toBe(5);
        expect(codePoints('😀😀')).toBe(2);
        expect('😀😀'.length).toBe(4);
        expect(codePoints('👍🏽')).toBe(2);
    });
    it('applies the server rule: 1..280 after trimming', () => {
        expect(isPostable('   ')).toBe(false);
        expect(isPostable('a')).toBe(true);
        expect(isPostable('😀'.repeat(TWEET_MAX))).toBe(true);
        expect(isPostable('😀'.repeat(TWEET_MAX + 1))).toBe(false);
        expect(isPostable('  ' + 'x'.repeat(TWEET_MAX) + '  ')).toBe(true);
        expect(postLength('  ab ')).toBe(2);
    });
});

describe('tokenize', () => {
    it('finds mentions, hashtags and urls', () => {
        const p = tokenize('hi @bob see #cpp20 at https://x.org/a. ok');
        expect(p).toEqual([
            { kind: 'text', text: 'hi ' },
            { kind: 'mention', text: '@bob', handle: 'bob' },
            { kind: 'text', text: ' see ' },
            { kind: 'hashtag', text: '#cpp20', tag: 'cpp20' },
            { kind: 'text', text: ' at ' },
            { kind: 'url', text: 'https://x.org/a', href: 'https://x.org/a' },
            { kind: 'text', text: '. ok' },
        ]);
    });
    it('leaves e-mail addresses and unknown mentions as text', () => {
        expect(tokenize('mail a@bob.com', ['bob'])).toEqual([{ kind: 'text', text: 'mail a@bob.com' }]);
        expect(tokenize('@ghost @Bob', ['bob']).map((x) => x.kind)).toEqual(['text', 'mention']);
    });
    it('handles unicode hashtags', () => {
        expect(tokenize('#café!')[0]).toEqual({ kind: 'hashtag', text: '#café', tag: 'café' });
    });
    it('round-trips the text', () => {
        const s = '@a_b #x y https://e.com/?q=1 #ü @toolonghandle12345';
        expect(tokenize(s).map((p) => p.text).join('')).toBe(s);
    });
});

describe('misc', () => {
    it('parses handle lists', () => {
        expect(parseHandles('@bob, carol  dave;Bob')).toEqual(['bob', 'carol', 'dave']);
    });
    it('formats relative times', () => {
        const now = Date.parse('2026-11-27T22:00:00.000Z');
        expect(relativeTime('2026-11-27T21:59:58.000Z', now)).toBe('now');
        expect(relativeTime('2026-11-27T21:59:00.000Z', now)).toBe('1m');
        expect(relativeTime('2026-11-27T19:00:00.000Z', now)).toBe('3h');
    });
});

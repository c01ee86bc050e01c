import { describe, expect, it } from 'vitest';
import type { ChannelEvent } from '../realtime/client';
import type { Message, Notification, Tweet } from '../api/types';
import { applyEvent, applyTyping, initialState, mergeNewestFirst, pruneTyping, type AppState } from './state';

const alice = { id: '1', handle: 'alice', displayName: 'Alice' };
const bob = { id: '2', handle: 'bob', displayName: 'Bob' };

function tweet(id: string, author = alice, createdAt = `2026-11-27T22:00:0${id.slice(-1)}.000Z`): Tweet {
    return {
        id,
        author,
        content: `tweet ${id}`,
        createdAt,
        replyTo: null,
        retweetOf: null,
        mentions: [],
        hashtags: [],
        likes: 0,
        retweets: 0,
        replies: 0,
        likedByMe: false,
        retweetedByMe: false,
    };
}

let seq = 100;
function ev(channel: ChannelEvent['channel'], type: string, payload: Record<string, unknown>, userId = '1'): ChannelEvent {
    seq++;
    return {
        channel,
        seq: String(seq),
        event: { id: `e${seq}`, type, userId, timestamp: '', version: 1, payload },
    };
}

function fold(s: AppState, e: ChannelEvent): AppState {
    return { ...s, ...applyEvent(s, e).patch };
}

function asBob(): AppState {
    const s = initialState();
    s.session = { token: 't', user: { ...bob, createdAt: '', followers: 0, following: 1, tweets: 0 } };
    return s;
}

describe('timeline events', () => {
    it('puts live tweets on top, newest first, each exactly once', () => {
        let s = asBob();
        s.timeline.items = [tweet('10')];
        for (const id of ['11', '12', '13']) s = fold(s, ev('timeline', 'TweetCreated', { tweet: tweet(id) }));
        s = fold(s, ev('timeline', 'TweetCreated', { tweet: tweet('12') })); // same tweet again
        expect(s.timeline.items.map((t) => t.id)).toEqual(['13', '12', '11', '10']);
    });

    it('highlights and announces tweets from others, not my own', () => {
        const s = asBob();
        const r1 = applyEvent(s, ev('timeline', 'TweetCreated', { tweet: tweet('20') }));
        expect(r1.effects.fresh).toEqual(['20']);
        expect(r1.effects.announce).toContain('Alice');
        const r2 = applyEvent(s, ev('timeline', 'TweetCreated', { tweet: tweet('21', bob) }));
        expect(r2.effects.fresh).toBeUndefined();
    });

    it('removes deleted tweets and retweets of them, and never re-adds them', () => {
        let s = asBob();
        const rt = { ...tweet('31', bob), retweetOf: tweet('30') };
        s.timeline.items = [rt, tweet('30'), tweet('29')];
        s = fold(s, ev('timeline', 'TweetDeleted', { tweetId: '30' }));
        expect(s.timeline.items.map((t) => t.id)).toEqual(['29']);
        s = fold(s, ev('timeline', 'TweetCreated', { tweet: tweet('30') }));
        expect(s.timeline.items.map((t) => t.id)).toEqual(['29']);
    });

    it('applies live like counts, and likedByMe only for my own like', () => {
        let s = asBob();
        s = fold(s, ev('timeline', 'TweetLiked', { tweetId: '40', likes: 5, retweets: 2 }, '1'));
        expect(s.patches['40']).toEqual({ likes: 5, retweets: 2 });
        s = fold(s, ev('timeline', 'TweetLiked', { tweetId: '40', likes: 6, retweets: 2 }, '2'));
        expect(s.patches['40']).toEqual({ likes: 6, retweets: 2, likedByMe: true });
        s = fold(s, ev('timeline', 'TweetUnliked', { tweetId: '40', likes: 5, retweets: 2 }, '2'));
        expect(s.patches['40'].likedByMe).toBe(false);
    });

    it('keeps live tweets newer than a reloaded page', () => {
        const page = [tweet('5'), tweet('4')];
        const live = [tweet('6'), tweet('5')];
        expect(mergeNewestFirst(live, page).map((t) => t.id)).toEqual(['6', '5', '4']);
    });
});

describe('notifications', () => {
    const n = (id: string): Notification => ({
        id,
        seq: id,
        type: 'like',
        actor: alice,
        tweet: null,
        conversationId: null,
        createdAt: '',
        read: false,
    });
    it('counts unread once per notification', () => {
        let s = asBob();
        s = fold(s, ev('notifications', 'Notification', { notification: n('1') }));
        s = fold(s, ev('notifications', 'Notification', { notification: n('1') }));
        s = fold(s, ev('notifications', 'Notification', { notification: n('2') }));
        expect(s.notifications.unread).toBe(2);
        expect(s.notifications.items.map((x) => x.id)).toEqual(['2', '1']);
    });
});

describe('messages and typing', () => {
    const msg = (id: string, sender = alice): Message => ({
        id,
        conversationId: '5',
        sender,
        content: `m${id}`,
        createdAt: '',
        seq: id,
    });
    const conv = { id: '5', participants: [alice, bob], createdAt: '', lastMessage: null };

    it('appends to an open thread once and moves the conversation up', () => {
        let s = asBob();
        s.threads = { '5': { items: [msg('1')], nextCursor: null, status: 'ready' } };
        s.conversations = { items: [{ id: '9', participants: [bob], createdAt: '', lastMessage: null }], status: 'ready' };
        s = fold(s, ev('messages', 'MessageSent', { message: msg('2'), conversation: conv }));
        s = fold(s, ev('messages', 'MessageSent', { message: msg('2'), conversation: conv }));
        expect(s.threads['5'].items.map((m) => m.id)).toEqual(['1', '2']);
        expect(s.conversations.items.map((c) => c.id)).toEqual(['5', '9']);
        expect(s.conversations.items[0].lastMessage?.id).toBe('2');
    });

    it('shows typing until it expires, the message arrives, or expiresInMs is 0', () => {
        let s = asBob();
        s = { ...s, ...applyTyping(s, { conversation: '5', user: alice, expiresInMs: 5000 }, 1000) };
        expect(Object.keys(s.typing['5'])).toEqual(['1']);
        expect(pruneTyping(s, 5999)).toBeNull();
        expect(pruneTyping(s, 6000)?.typing?.['5']).toEqual({});
        s = fold(s, ev('messages', 'MessageSent', { message: msg('3'), conversation: conv }));
        expect(s.typing['5']).toEqual({});
        s = { ...s, ...applyTyping(s, { conversation: '5', user: alice, expiresInMs: 5000 }, 1000) };
        s = { ...s, ...applyTyping(s, { conversation: '5', user: alice, expiresInMs: 0 }, 1500) };
        expect(s.typing['5']).toEqual({});
    });

    it('ignores my own typing echo', () => {
        const s = asBob();
        expect(applyTyping(s, { conversation: '5', user: bob, expiresInMs: 5000 }, 0)).toEqual({});
    });
});

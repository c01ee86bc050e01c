import { describe, expect, it } from 'vitest';
import type { ChannelEvent } from '../realtime/client';
import type { Message, Notification, Tweet } from '../api/types';
import type { Conversation } from '../api/types';
import {
    appendPage,
    applyEvent,
    applyTyping,
    initialState,
    mergeConversationPage,
    mergeNewestFirst,
    pruneTyping,
    type AppState,
    type ConversationList,
} from './state';

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
    it('announces a draft invitation live', () => {
        const invite: Notification = { ...n('3'), type: 'draft_invite', draftId: '12' };
        const { patch, effects } = applyEvent(asBob(), ev('notifications', 'Notification', { notification: invite }));
        expect(patch.notifications?.unread).toBe(1);
        expect(effects.announce).toBe('Alice invited you to write a draft together');
    });
});

describe('published drafts', () => {
    it('a live tweet keeps its co-authors', () => {
        const t = { ...tweet('9'), coauthors: [bob] };
        const s = fold(asBob(), ev('timeline', 'TweetCreated', { tweet: t }));
        expect(s.timeline.items[0].coauthors).toEqual([bob]);
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
        s.conversations = {
            items: [{ id: '9', participants: [bob], createdAt: '', lastMessage: null }],
            nextCursor: null,
            status: 'ready',
            loadingMore: false,
        };
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

describe('conversation pages', () => {
    // A conversation whose last message has seq `last` (its last-activity seq).
    const c = (id: string, last: number | null = Number(id)): Conversation => ({
        id,
        participants: [alice, bob],
        createdAt: '',
        lastMessage:
            last === null ? null : { id: `m${last}`, conversationId: id, sender: alice, content: `m${last}`, createdAt: '', seq: String(last) },
    });
    const list = (items: Conversation[], nextCursor: string | null, status: ConversationList['status'] = 'ready'): ConversationList => ({
        items,
        nextCursor,
        status,
        loadingMore: false,
    });
    const ids = (items: Conversation[]) => items.map((x) => x.id);

    it('takes the first page and its cursor on first load', () => {
        const r = mergeConversationPage(list([], null, 'loading'), { items: [c('30'), c('20')], nextCursor: '20' });
        expect(ids(r.items)).toEqual(['30', '20']);
        expect(r.nextCursor).toBe('20');
    });

    it('treats a missing nextCursor as the last page', () => {
        const r = mergeConversationPage(list([], null, 'idle'), { items: [c('30')] });
        expect(r.nextCursor).toBeNull();
    });

    it('appends older pages without duplicates', () => {
        // '20' moved to the top live after page 1 was fetched, and page 2 still has its old copy.
        const first = [c('20', 40), c('30'), c('25')];
        const page2 = [c('20'), c('15'), c('10')];
        const items = appendPage(first, page2);
        expect(ids(items)).toEqual(['20', '30', '25', '15', '10']);
        expect(items[0].lastMessage?.seq).toBe('40');
    });

    it('keeps conversations that got a message while the first page loaded on top, once', () => {
        const cur = list([c('7', 50), c('30')], '30');
        const r = mergeConversationPage(cur, { items: [c('30'), c('7'), c('5')], nextCursor: null });
        expect(ids(r.items)).toEqual(['7', '30', '5']);
        expect(r.items[0].lastMessage?.seq).toBe('50');
        expect(r.nextCursor).toBeNull();
    });

    it('keeps pages loaded with "Load more" and their cursor on a refresh', () => {
        // Loaded three pages of two; then '3' got a message the list already shows on top.
        const cur = list([c('3', 70), c('60'), c('50'), c('40'), c('30'), c('20')], '20');
        const r = mergeConversationPage(cur, { items: [c('3', 70), c('60')], nextCursor: '60' });
        expect(ids(r.items)).toEqual(['3', '60', '50', '40', '30', '20']);
        expect(r.nextCursor).toBe('20');
    });

    it('uses the page cursor when the page does not reach what we have, or on a resync', () => {
        // Two new conversations pushed everything we had off the first page: there may be a gap.
        const cur = list([c('50'), c('40')], '40');
        const gap = mergeConversationPage(cur, { items: [c('80'), c('70')], nextCursor: '70' });
        expect(ids(gap.items)).toEqual(['80', '70', '50', '40']);
        expect(gap.nextCursor).toBe('70');
        const resync = mergeConversationPage(list([c('60'), c('50'), c('40')], '40'), { items: [c('60'), c('50')], nextCursor: '50' }, false);
        expect(ids(resync.items)).toEqual(['60', '50', '40']);
        expect(resync.nextCursor).toBe('50');
    });

    it('drops what arrived before the first load unless it is newer than the page', () => {
        // Live events can insert conversations before the list was ever loaded.
        const cur = list([c('9', 90), c('4', 4)], null, 'idle');
        const r = mergeConversationPage(cur, { items: [c('60'), c('50')], nextCursor: '50' });
        expect(ids(r.items)).toEqual(['9', '60', '50']);
        expect(r.nextCursor).toBe('50');
    });

    it('moves a conversation from an older page to the top when a message arrives live', () => {
        let s = asBob();
        s.conversations = list([c('60'), c('50'), c('40')], '40');
        s = fold(s, ev('messages', 'MessageSent', { message: { ...c('40', 99).lastMessage!, conversationId: '40' }, conversation: c('40') }));
        s = fold(s, ev('messages', 'MessageSent', { message: { ...c('99', 100).lastMessage!, conversationId: '99' }, conversation: c('99', null) }));
        expect(ids(s.conversations.items)).toEqual(['99', '40', '60', '50']);
        expect(s.conversations.nextCursor).toBe('40');
    });
});

// The app state and the pure functions that fold server events into it. Kept free of I/O so
// the "exactly once, in order" behaviour of live updates is unit-tested without a browser.
import type { ConnectionStatus, ChannelEvent, TypingNotice } from '../realtime/client';
import type { Conversation, Message, Notification, Tweet, User, UserRef } from '../api/types';

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error';

export interface TweetPatch {
    likes?: number;
    retweets?: number;
    replies?: number;
    likedByMe?: boolean;
    retweetedByMe?: boolean;
}

export interface MessageThread {
    items: Message[]; // oldest first
    nextCursor: string | null;
    status: LoadStatus;
}

export interface ConversationList {
    items: Conversation[];
    nextCursor: string | null;
    status: LoadStatus;
    loadingMore: boolean;
}

export interface Toast {
    id: number;
    text: string;
    kind: 'info' | 'error';
}

export interface AppState {
    session: { token: string; user: User } | null;
    /** Shown on the login page, e.g. after the session expired. */
    sessionNotice: string | null;
    conn: ConnectionStatus;
    online: boolean;

    timeline: { items: Tweet[]; nextCursor: string | null; status: LoadStatus; error: string | null; loadingMore: boolean };
    /** Tweet ids that arrived live and are briefly highlighted. */
    fresh: Record<string, true>;
    /** Live counts by tweet id, applied over any copy of that tweet on screen. */
    patches: Record<string, TweetPatch>;
    deleted: Record<string, true>;
    /** followedByMe changes made in this session, by lower-cased handle. */
    follows: Record<string, boolean>;

    notifications: { items: Notification[]; unread: number; nextCursor: string | null; status: LoadStatus };
    /** Newest activity first; paged like the timeline ("Load more" with before=nextCursor). */
    conversations: ConversationList;
    threads: Record<string, MessageThread>;
    /** conversation id → user id → who is typing, until when (ms). */
    typing: Record<string, Record<string, { user: UserRef; until: number }>>;

    /** Text for the polite aria-live region; n changes so repeats are announced. */
    announcement: { text: string; n: number };
    toasts: Toast[];
}

export const initialConn: ConnectionStatus = {
    state: 'disconnected',
    attempt: 0,
    retryAt: null,
    lastCloseCode: null,
    reason: null,
};

export function initialState(): AppState {
    return {
        session: null,
        sessionNotice: null,
        conn: initialConn,
        online: typeof navigator === 'undefined' ? true : navigator.onLine,
        timeline: { items: [], nextCursor: null, status: 'idle', error: null, loadingMore: false },
        fresh: {},
        patches: {},
        deleted: {},
        follows: {},
        notifications: { items: [], unread: 0, nextCursor: null, status: 'idle' },
        conversations: { items: [], nextCursor: null, status: 'idle', loadingMore: false },
        threads: {},
        typing: {},
        announcement: { text: '', n: 0 },
        toasts: [],
    };
}

/** The id that likes/retweets act on: the original for a retweet. */
export function targetOf(t: Tweet): Tweet {
    return t.retweetOf ?? t;
}

/** Merge a REST page of tweets with tweets that arrived live before it (newest first). */
export function mergeNewestFirst(live: Tweet[], page: Tweet[]): Tweet[] {
    const ids = new Set(page.map((t) => t.id));
    const newest = page[0]?.createdAt ?? '';
    const extra = live.filter((t) => !ids.has(t.id) && t.createdAt >= newest);
    return [...extra, ...page];
}

export function appendPage<T extends { id: string }>(items: T[], page: T[]): T[] {
    const ids = new Set(items.map((t) => t.id));
    return [...items, ...page.filter((t) => !ids.has(t.id))];
}

function lastSeq(c: Conversation): bigint | null {
    try {
        return c.lastMessage ? BigInt(c.lastMessage.seq) : null;
    } catch {
        return null;
    }
}

/**
 * Fold a freshly loaded first page of conversations (newest activity first) into the list we
 * have, the conversation counterpart of mergeNewestFirst:
 * - conversations whose last message is newer than anything on the page arrived live while
 *   the page loaded: they stay on top (our copy wins, it is the newer one);
 * - then the page;
 * - then, if older pages were already loaded (status 'ready'), the rest of our list, so a
 *   refresh (opening a conversation, coming back to the list) does not throw away what
 *   "Load more" fetched. Our cursor still marks where that tail ends, so it is kept when the
 *   page reaches into the tail (no gap between them); otherwise, or when `trustTail` is false
 *   (a resync after missed events), the page's cursor is used and later pages are appended
 *   without duplicates.
 * Every conversation appears once (by id).
 */
export function mergeConversationPage(
    cur: ConversationList,
    page: { items: Conversation[]; nextCursor?: string | null },
    trustTail = true,
): Pick<ConversationList, 'items' | 'nextCursor'> {
    const pageCursor = page.nextCursor ?? null;
    let newest: bigint | null = null;
    for (const c of page.items) {
        const v = lastSeq(c);
        if (v !== null && (newest === null || v > newest)) newest = v;
    }
    const live = cur.items.filter((c) => {
        const v = lastSeq(c);
        return v !== null && (newest === null || v > newest);
    });
    const items = appendPage(live, page.items);
    if (cur.status !== 'ready') return { items, nextCursor: pageCursor };
    const known = new Set(cur.items.map((c) => c.id));
    const withTail = appendPage(items, cur.items);
    const hasTail = withTail.length > items.length;
    const last = page.items[page.items.length - 1];
    const reachesTail = !last || known.has(last.id);
    const nextCursor = pageCursor === null ? null : hasTail && reachesTail && trustTail ? cur.nextCursor : pageCursor;
    return { items: withTail, nextCursor };
}

export interface EventEffects {
    /** Ids to highlight briefly. */
    fresh?: string[];
    announce?: string;
    /** Typing entries that must be cleared later (conversation, user). */
}

/**
 * Fold one delivered channel event into the state. Returns the patch to apply and what to
 * announce. Events are already de-duplicated by seq/id in the realtime client; tweets,
 * notifications and messages are additionally de-duplicated here by their own ids, because
 * the same object can also arrive over REST.
 */
export function applyEvent(s: AppState, ev: ChannelEvent): { patch: Partial<AppState>; effects: EventEffects } {
    const me = s.session?.user.id;
    const p = ev.event.payload as Record<string, unknown>;
    switch (ev.event.type) {
        case 'TweetCreated': {
            const tweet = p.tweet as Tweet | undefined;
            if (!tweet?.id || s.deleted[tweet.id]) return { patch: {}, effects: {} };
            const patch: Partial<AppState> = {};
            if (tweet.retweetOf) {
                const orig = tweet.retweetOf;
                const prev = s.patches[orig.id] ?? {};
                patch.patches = {
                    ...s.patches,
                    [orig.id]: {
                        ...prev,
                        retweets: Math.max(orig.retweets, prev.retweets ?? 0),
                        ...(tweet.author.id === me ? { retweetedByMe: true } : {}),
                    },
                };
            }
            if (s.timeline.items.some((t) => t.id === tweet.id)) return { patch, effects: {} };
            patch.timeline = { ...s.timeline, items: [tweet, ...s.timeline.items] };
            const mine = tweet.author.id === me;
            return {
                patch,
                effects: mine
                    ? {}
                    : {
                          fresh: [tweet.id],
                          announce: `New ${tweet.retweetOf ? 'retweet' : 'tweet'} from ${tweet.author.displayName}: ${targetOf(tweet).content}`,
                      },
            };
        }
        case 'TweetDeleted': {
            const id = String(p.tweetId ?? '');
            if (!id) return { patch: {}, effects: {} };
            return {
                patch: {
                    deleted: { ...s.deleted, [id]: true },
                    timeline: {
                        ...s.timeline,
                        items: s.timeline.items.filter((t) => t.id !== id && t.retweetOf?.id !== id),
                    },
                },
                effects: {},
            };
        }
        case 'TweetLiked':
        case 'TweetUnliked': {
            const id = String(p.tweetId ?? '');
            if (!id) return { patch: {}, effects: {} };
            const prev = s.patches[id] ?? {};
            const next: TweetPatch = { ...prev };
            if (typeof p.likes === 'number') next.likes = p.likes;
            if (typeof p.retweets === 'number') next.retweets = p.retweets;
            if (me && ev.event.userId === me) next.likedByMe = ev.event.type === 'TweetLiked';
            return { patch: { patches: { ...s.patches, [id]: next } }, effects: {} };
        }
        case 'Notification': {
            const n = p.notification as Notification | undefined;
            if (!n?.id || s.notifications.items.some((x) => x.id === n.id)) return { patch: {}, effects: {} };
            const patch: Partial<AppState> = {
                notifications: {
                    ...s.notifications,
                    items: [n, ...s.notifications.items],
                    unread: s.notifications.unread + (n.read ? 0 : 1),
                },
            };
            // A like or retweet of my tweet carries the tweet as it is now: its counts are
            // live counts too (events arrive in order, so this never goes backwards).
            if (n.tweet && (n.type === 'like' || n.type === 'retweet')) {
                const t = targetOf(n.tweet);
                patch.patches = { ...s.patches, [t.id]: { ...s.patches[t.id], likes: t.likes, retweets: t.retweets } };
            }
            return { patch, effects: { announce: notificationText(n) } };
        }
        case 'MessageSent': {
            const m = p.message as Message | undefined;
            const conv = p.conversation as Conversation | undefined;
            if (!m?.id) return { patch: {}, effects: {} };
            const convId = m.conversationId;
            const patch: Partial<AppState> = {};
            // Conversation list: upsert with the new last message, move to the top.
            const existing = s.conversations.items.find((c) => c.id === convId);
            const base: Conversation | undefined = existing ?? conv;
            if (base) {
                patch.conversations = {
                    ...s.conversations,
                    items: [{ ...base, lastMessage: m }, ...s.conversations.items.filter((c) => c.id !== convId)],
                };
            }
            const thread = s.threads[convId];
            if (thread && !thread.items.some((x) => x.id === m.id)) {
                patch.threads = { ...s.threads, [convId]: { ...thread, items: [...thread.items, m] } };
            }
            const typingHere = s.typing[convId];
            if (typingHere?.[m.sender.id]) {
                const rest = { ...typingHere };
                delete rest[m.sender.id];
                patch.typing = { ...s.typing, [convId]: rest };
            }
            return {
                patch,
                effects: m.sender.id === me ? {} : { announce: `Message from ${m.sender.displayName}: ${m.content}` },
            };
        }
        default:
            return { patch: {}, effects: {} };
    }
}

export function applyTyping(s: AppState, t: TypingNotice, now: number): Partial<AppState> {
    if (s.session && t.user.id === s.session.user.id) return {};
    const here = { ...(s.typing[t.conversation] ?? {}) };
    if (t.expiresInMs <= 0) {
        if (!here[t.user.id]) return {};
        delete here[t.user.id];
    } else {
        here[t.user.id] = { user: t.user, until: now + t.expiresInMs };
    }
    return { typing: { ...s.typing, [t.conversation]: here } };
}

/** Drop typing entries whose time is up; returns null when nothing changed. */
export function pruneTyping(s: AppState, now: number): Partial<AppState> | null {
    let changed = false;
    const next: AppState['typing'] = {};
    for (const [conv, users] of Object.entries(s.typing)) {
        const kept: Record<string, { user: UserRef; until: number }> = {};
        for (const [uid, entry] of Object.entries(users)) {
            if (entry.until > now) kept[uid] = entry;
            else changed = true;
        }
        next[conv] = kept;
    }
    return changed ? { typing: next } : null;
}

export function notificationText(n: Notification): string {
    const who = n.actor.displayName || `@${n.actor.handle}`;
    switch (n.type) {
        case 'like':
            return `${who} liked your tweet`;
        case 'retweet':
            return `${who} retweeted your tweet`;
        case 'reply':
            return `${who} replied to your tweet`;
        case 'follow':
            return `${who} followed you`;
        case 'mention':
            return `${who} mentioned you`;
        case 'message':
            return `${who} sent you a message`;
        case 'draft_invite':
            return `${who} invited you to write a draft together`;
        default:
            return `${who} did something`;
    }
}

export function highestSeq(items: { seq: string }[]): string | null {
    let best: bigint | null = null;
    let bestStr: string | null = null;
    for (const it of items) {
        try {
            const v = BigInt(it.seq);
            if (best === null || v > best) {
                best = v;
                bestStr = it.seq;
            }
        } catch {
            // skip malformed
        }
    }
    return bestStr;
}

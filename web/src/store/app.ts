// The app's single store and its actions: session (token in localStorage), the realtime
// client's lifecycle, REST loads, and optimistic actions. Components read with useApp() and
// call the actions exported here; nothing else talks to the API or the socket.
import { api } from '../api/endpoints';
import { ApiError, configureHttp } from '../api/http';
import type { Conversation, Tweet, User } from '../api/types';
import { createBrowserRealtimeClient, jwtExpiry, type Channel, type RealtimeClient } from '../realtime/client';
import { navigate } from '../lib/router';
import { createStore, useStore } from './core';
import {
    appendPage,
    applyEvent,
    applyTyping,
    highestSeq,
    initialState,
    mergeConversationPage,
    mergeNewestFirst,
    pruneTyping,
    type AppState,
    type TweetPatch,
} from './state';

const TOKEN_KEY = 'chirp.token';
const USER_KEY = 'chirp.user';
const FRESH_MS = 4000;

export const store = createStore<AppState>(initialState());

export function useApp<T>(selector: (s: AppState) => T): T {
    return useStore(store, selector);
}

// ---- messages to the user ---------------------------------------------------------------

let toastSeq = 0;
export function toast(text: string, kind: 'info' | 'error' = 'info'): void {
    const id = ++toastSeq;
    store.set((s) => ({ toasts: [...s.toasts.slice(-3), { id, text, kind }] }));
    setTimeout(() => dismissToast(id), kind === 'error' ? 6000 : 3500);
}

export function dismissToast(id: number): void {
    store.set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
}

export function announce(text: string): void {
    store.set((s) => ({ announcement: { text, n: s.announcement.n + 1 } }));
}

export function errorText(err: unknown): string {
    if (err instanceof ApiError) return err.message;
    if (err instanceof Error) return err.message;
    return 'Something went wrong';
}

// ---- session ----------------------------------------------------------------------------

let realtime: RealtimeClient | null = null;

function tokenValid(token: string): boolean {
    const exp = jwtExpiry(token);
    return exp === null || exp * 1000 > Date.now();
}

function readStoredSession(): { session: AppState['session']; expired: boolean } {
    try {
        const token = localStorage.getItem(TOKEN_KEY);
        const userJson = localStorage.getItem(USER_KEY);
        if (!token || !userJson) return { session: null, expired: false };
        if (!tokenValid(token)) return { session: null, expired: true };
        return { session: { token, user: JSON.parse(userJson) as User }, expired: false };
    } catch {
        return { session: null, expired: false };
    }
}

function persistSession(session: AppState['session']): void {
    try {
        if (session) {
            localStorage.setItem(TOKEN_KEY, session.token);
            localStorage.setItem(USER_KEY, JSON.stringify(session.user));
        } else {
            localStorage.removeItem(TOKEN_KEY);
            localStorage.removeItem(USER_KEY);
        }
    } catch {
        // storage disabled: the session lasts for this tab only
    }
}

function getRealtime(): RealtimeClient {
    if (!realtime) {
        realtime = createBrowserRealtimeClient(() => store.get().session?.token ?? null);
        realtime.on('status', (conn) => store.set({ conn }));
        realtime.on('event', (ev) => {
            const { patch, effects } = applyEvent(store.get(), ev);
            store.set(patch);
            if (effects.fresh?.length) markFresh(effects.fresh);
            if (effects.announce) announce(effects.announce);
        });
        realtime.on('typing', (t) => {
            store.set((s) => applyTyping(s, t, Date.now()));
            if (t.expiresInMs > 0) setTimeout(pruneTypingNow, t.expiresInMs + 50);
        });
        realtime.on('resync', (channel) => void resync(channel));
        realtime.on('authExpired', () => expireSession());
    }
    return realtime;
}

function pruneTypingNow(): void {
    const patch = pruneTyping(store.get(), Date.now());
    if (patch) store.set(patch);
}

function markFresh(ids: string[]): void {
    store.set((s) => {
        const fresh = { ...s.fresh };
        for (const id of ids) fresh[id] = true;
        return { fresh };
    });
    setTimeout(() => {
        store.set((s) => {
            const fresh = { ...s.fresh };
            for (const id of ids) delete fresh[id];
            return { fresh };
        });
    }, FRESH_MS);
}

/** Called once at startup: restore the session, wire network signals, connect. */
export function bootstrap(): void {
    configureHttp({
        getToken: () => store.get().session?.token ?? null,
        onUnauthorized: () => expireSession(),
    });
    window.addEventListener('online', () => setOnline(true));
    window.addEventListener('offline', () => setOnline(false));
    // Coming back to the tab: skip whatever backoff is left.
    document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible') realtime?.reconnectNow();
    });
    const { session, expired } = readStoredSession();
    if (!session) persistSession(null);
    store.set({
        session,
        online: navigator.onLine,
        sessionNotice: expired ? 'Your session has expired. Please log in again.' : null,
    });
    if (session) {
        startSession();
        // Refresh the cached user (counts may have changed).
        api.me()
            .then((user) => updateMe(user))
            .catch(() => {});
    }
}

function setOnline(online: boolean): void {
    store.set({ online });
    getRealtime().setNetworkOnline(online);
}

function startSession(): void {
    const rt = getRealtime();
    rt.setNetworkOnline(navigator.onLine);
    rt.start();
    void loadNotifications();
}

function updateMe(user: User): void {
    const s = store.get().session;
    if (!s || s.user.id !== user.id) return;
    const session = { ...s, user };
    store.set({ session });
    persistSession(session);
}

function signIn(token: string, user: User): void {
    const session = { token, user };
    persistSession(session);
    store.set({ ...initialState(), session, online: navigator.onLine });
    startSession();
}

export async function login(handle: string, password: string): Promise<void> {
    const res = await api.login(handle, password);
    signIn(res.token, res.user);
}

export async function register(handle: string, password: string, displayName: string): Promise<void> {
    const res = await api.register(handle, password, displayName);
    signIn(res.token, res.user);
}

export function logout(notice: string | null = null): void {
    realtime?.stop();
    persistSession(null);
    store.set({ ...initialState(), sessionNotice: notice, online: navigator.onLine });
    navigate('/login', { replace: true });
}

function expireSession(): void {
    if (!store.get().session) return;
    logout('Your session has expired. Please log in again.');
}

export function clearSessionNotice(): void {
    store.set({ sessionNotice: null });
}

export function reconnectNow(): void {
    getRealtime().reconnectNow();
}

async function resync(channel: Channel): Promise<void> {
    if (channel === 'timeline') await loadTimeline(true);
    else if (channel === 'notifications') await loadNotifications();
    else if (channel === 'messages') {
        await loadConversations(true);
        for (const id of Object.keys(store.get().threads)) await loadThread(id);
    }
}

// ---- timeline ---------------------------------------------------------------------------

export async function loadTimeline(force = false): Promise<void> {
    const tl = store.get().timeline;
    if (!force && (tl.status === 'loading' || tl.status === 'ready')) return;
    store.set((s) => ({ timeline: { ...s.timeline, status: s.timeline.status === 'ready' ? 'ready' : 'loading', error: null } }));
    try {
        const page = await api.timeline();
        store.set((s) => ({
            timeline: {
                items: mergeNewestFirst(s.timeline.items, page.items).filter((t) => !s.deleted[t.id]),
                nextCursor: page.nextCursor,
                status: 'ready',
                error: null,
                loadingMore: false,
            },
        }));
    } catch (err) {
        store.set((s) => ({ timeline: { ...s.timeline, status: 'error', error: errorText(err) } }));
    }
}

export async function loadMoreTimeline(): Promise<void> {
    const tl = store.get().timeline;
    if (!tl.nextCursor || tl.loadingMore) return;
    store.set((s) => ({ timeline: { ...s.timeline, loadingMore: true } }));
    try {
        const page = await api.timeline(tl.nextCursor);
        store.set((s) => ({
            timeline: {
                ...s.timeline,
                items: appendPage(s.timeline.items, page.items),
                nextCursor: page.nextCursor,
                loadingMore: false,
            },
        }));
    } catch (err) {
        store.set((s) => ({ timeline: { ...s.timeline, loadingMore: false } }));
        toast(errorText(err), 'error');
    }
}

/** The app's one realtime client (the draft editor sends and receives its frames on it). */
export function realtimeClient(): RealtimeClient {
    return getRealtime();
}

/** A tweet I published from a draft: on top of my timeline now, like a posted one. */
export function addPublishedTweet(tweet: Tweet): void {
    addOwnTweet(tweet);
    updateMeCounts({ tweets: +1 });
}

function addOwnTweet(tweet: Tweet): void {
    store.set((s) =>
        s.timeline.items.some((t) => t.id === tweet.id)
            ? {}
            : { timeline: { ...s.timeline, items: [tweet, ...s.timeline.items] } },
    );
}

function patchTweet(id: string, patch: TweetPatch): void {
    store.set((s) => ({ patches: { ...s.patches, [id]: { ...s.patches[id], ...patch } } }));
}

function patchFrom(t: Tweet): TweetPatch {
    return { likes: t.likes, retweets: t.retweets, replies: t.replies, likedByMe: t.likedByMe, retweetedByMe: t.retweetedByMe };
}

export async function postTweet(content: string, replyTo: Tweet | null = null): Promise<Tweet> {
    const tweet = await api.postTweet(content.trim(), replyTo?.id ?? null);
    addOwnTweet(tweet);
    if (replyTo) {
        const known = store.get().patches[replyTo.id]?.replies ?? replyTo.replies;
        patchTweet(replyTo.id, { replies: known + 1 });
    }
    updateMeCounts({ tweets: +1 });
    announce(replyTo ? 'Reply posted' : 'Tweet posted');
    return tweet;
}

function updateMeCounts(delta: { tweets?: number; following?: number }): void {
    const s = store.get().session;
    if (!s) return;
    updateMe({
        ...s.user,
        tweets: s.user.tweets + (delta.tweets ?? 0),
        following: s.user.following + (delta.following ?? 0),
    });
}

export async function setLiked(tweet: Tweet, liked: boolean): Promise<void> {
    const cur = { ...tweet, ...store.get().patches[tweet.id] };
    if (cur.likedByMe === liked) return;
    patchTweet(tweet.id, { likedByMe: liked, likes: Math.max(0, cur.likes + (liked ? 1 : -1)) });
    try {
        const fresh = liked ? await api.like(tweet.id) : await api.unlike(tweet.id);
        patchTweet(tweet.id, patchFrom(fresh));
    } catch (err) {
        patchTweet(tweet.id, { likedByMe: cur.likedByMe, likes: cur.likes });
        toast(`Could not ${liked ? 'like' : 'unlike'}: ${errorText(err)}`, 'error');
    }
}

export async function retweet(tweet: Tweet): Promise<void> {
    const cur = { ...tweet, ...store.get().patches[tweet.id] };
    if (cur.retweetedByMe) return;
    patchTweet(tweet.id, { retweetedByMe: true, retweets: cur.retweets + 1 });
    try {
        const rt = await api.retweet(tweet.id);
        addOwnTweet(rt);
        if (rt.retweetOf) patchTweet(tweet.id, { ...patchFrom(rt.retweetOf), retweetedByMe: true });
        updateMeCounts({ tweets: +1 });
        announce('Retweeted');
    } catch (err) {
        if (err instanceof ApiError && err.status === 409) {
            patchTweet(tweet.id, { retweetedByMe: true, retweets: cur.retweets });
            return;
        }
        patchTweet(tweet.id, { retweetedByMe: cur.retweetedByMe, retweets: cur.retweets });
        toast(`Could not retweet: ${errorText(err)}`, 'error');
    }
}

export async function deleteTweet(tweet: Tweet): Promise<boolean> {
    try {
        await api.deleteTweet(tweet.id);
        store.set((s) => ({
            deleted: { ...s.deleted, [tweet.id]: true },
            timeline: { ...s.timeline, items: s.timeline.items.filter((t) => t.id !== tweet.id) },
        }));
        if (tweet.retweetOf) {
            const orig = tweet.retweetOf;
            const cur = { ...orig, ...store.get().patches[orig.id] };
            patchTweet(orig.id, { retweetedByMe: false, retweets: Math.max(0, cur.retweets - 1) });
        }
        updateMeCounts({ tweets: -1 });
        announce(tweet.retweetOf ? 'Retweet undone' : 'Tweet deleted');
        return true;
    } catch (err) {
        toast(`Could not delete: ${errorText(err)}`, 'error');
        return false;
    }
}

// ---- people -----------------------------------------------------------------------------

export async function setFollowing(user: User, follow: boolean): Promise<User | null> {
    const key = user.handle.toLowerCase();
    store.set((s) => ({ follows: { ...s.follows, [key]: follow } }));
    try {
        const updated = follow ? await api.follow(user.handle) : await api.unfollow(user.handle);
        const was = user.followedByMe ?? false;
        if (was !== follow) updateMeCounts({ following: follow ? 1 : -1 });
        // Their tweets now belong (or no longer belong) in the home timeline.
        void loadTimeline(true);
        announce(follow ? `You follow @${user.handle}` : `You unfollowed @${user.handle}`);
        return { ...updated, followedByMe: follow };
    } catch (err) {
        store.set((s) => ({ follows: { ...s.follows, [key]: user.followedByMe ?? false } }));
        toast(`Could not ${follow ? 'follow' : 'unfollow'} @${user.handle}: ${errorText(err)}`, 'error');
        return null;
    }
}

export function followedByMe(s: AppState, user: User): boolean {
    const v = s.follows[user.handle.toLowerCase()];
    return v ?? user.followedByMe ?? false;
}

// ---- notifications ------------------------------------------------------------------------

export async function loadNotifications(): Promise<void> {
    store.set((s) => ({ notifications: { ...s.notifications, status: s.notifications.status === 'ready' ? 'ready' : 'loading' } }));
    try {
        const page = await api.notifications(null, 30);
        store.set((s) => {
            // Keep notifications that arrived live while the page loaded.
            const ids = new Set(page.items.map((n) => n.id));
            const newest = page.items[0]?.seq;
            const live = s.notifications.items.filter(
                (n) => !ids.has(n.id) && (!newest || BigInt(n.seq) > BigInt(newest)),
            );
            return {
                notifications: {
                    items: [...live, ...page.items],
                    unread: page.unread + live.filter((n) => !n.read).length,
                    nextCursor: page.nextCursor,
                    status: 'ready',
                },
            };
        });
    } catch {
        store.set((s) => ({ notifications: { ...s.notifications, status: 'error' } }));
    }
}

export async function loadMoreNotifications(): Promise<void> {
    const n = store.get().notifications;
    if (!n.nextCursor) return;
    try {
        const page = await api.notifications(n.nextCursor, 30);
        store.set((s) => ({
            notifications: {
                ...s.notifications,
                items: appendPage(s.notifications.items, page.items),
                nextCursor: page.nextCursor,
            },
        }));
    } catch (err) {
        toast(errorText(err), 'error');
    }
}

export async function markNotificationsRead(): Promise<void> {
    const n = store.get().notifications;
    const upTo = highestSeq(n.items) ?? undefined;
    if (n.unread === 0) return;
    try {
        const res = await api.markRead(upTo);
        store.set((s) => ({
            notifications: {
                ...s.notifications,
                unread: res.unread,
                items: s.notifications.items.map((x) =>
                    !upTo || BigInt(x.seq) <= BigInt(upTo) ? (x.read ? x : { ...x, read: true }) : x,
                ),
            },
        }));
        announce('Notifications marked as read');
    } catch (err) {
        toast(`Could not mark as read: ${errorText(err)}`, 'error');
    }
}

// ---- direct messages ----------------------------------------------------------------------

/**
 * Load the first page of conversations and fold it into the list (mergeConversationPage):
 * live updates that arrived meanwhile stay on top, and pages already fetched with "Load more"
 * are kept unless `resync` (events were missed, so only the server's order is trusted).
 */
export async function loadConversations(resync = false): Promise<void> {
    store.set((s) => ({ conversations: { ...s.conversations, status: s.conversations.status === 'ready' ? 'ready' : 'loading' } }));
    try {
        const page = await api.conversations();
        store.set((s) => ({
            conversations: { ...s.conversations, ...mergeConversationPage(s.conversations, page, !resync), status: 'ready' },
        }));
    } catch {
        store.set((s) => ({ conversations: { ...s.conversations, status: 'error' } }));
    }
}

/** The next (older) page of conversations, appended without duplicates, like loadMoreTimeline. */
export async function loadMoreConversations(): Promise<void> {
    const cl = store.get().conversations;
    if (!cl.nextCursor || cl.loadingMore) return;
    store.set((s) => ({ conversations: { ...s.conversations, loadingMore: true } }));
    try {
        const page = await api.conversations(cl.nextCursor);
        store.set((s) => ({
            conversations: {
                ...s.conversations,
                items: appendPage(s.conversations.items, page.items),
                nextCursor: page.nextCursor ?? null,
                loadingMore: false,
            },
        }));
    } catch (err) {
        store.set((s) => ({ conversations: { ...s.conversations, loadingMore: false } }));
        toast(errorText(err), 'error');
    }
}

export async function openConversation(handles: string[]): Promise<Conversation> {
    const conv = await api.createConversation(handles);
    store.set((s) => ({
        conversations: {
            ...s.conversations,
            items: s.conversations.items.some((c) => c.id === conv.id)
                ? s.conversations.items
                : [conv, ...s.conversations.items],
        },
    }));
    return conv;
}

export async function loadThread(id: string): Promise<void> {
    store.set((s) => ({
        threads: { ...s.threads, [id]: { items: s.threads[id]?.items ?? [], nextCursor: null, status: s.threads[id] ? s.threads[id].status : 'loading' } },
    }));
    try {
        const page = await api.messages(id);
        const items = [...page.items].reverse(); // API is newest first; threads read top-down
        store.set((s) => {
            const live = (s.threads[id]?.items ?? []).filter((m) => !items.some((x) => x.id === m.id));
            const newest = items[items.length - 1]?.seq;
            const keep = live.filter((m) => !newest || BigInt(m.seq) > BigInt(newest));
            return { threads: { ...s.threads, [id]: { items: [...items, ...keep], nextCursor: page.nextCursor, status: 'ready' } } };
        });
    } catch (err) {
        store.set((s) => ({ threads: { ...s.threads, [id]: { items: [], nextCursor: null, status: 'error' } } }));
        if (!(err instanceof ApiError && (err.status === 404 || err.status === 403))) toast(errorText(err), 'error');
        throw err;
    }
}

export async function loadOlderMessages(id: string): Promise<void> {
    const t = store.get().threads[id];
    if (!t?.nextCursor) return;
    try {
        const page = await api.messages(id, t.nextCursor);
        const older = [...page.items].reverse();
        store.set((s) => {
            const cur = s.threads[id];
            const ids = new Set(cur.items.map((m) => m.id));
            return {
                threads: {
                    ...s.threads,
                    [id]: { ...cur, items: [...older.filter((m) => !ids.has(m.id)), ...cur.items], nextCursor: page.nextCursor },
                },
            };
        });
    } catch (err) {
        toast(errorText(err), 'error');
    }
}

export async function sendMessage(conversationId: string, content: string): Promise<void> {
    const m = await api.sendMessage(conversationId, content.trim());
    getRealtime().resetTyping(conversationId);
    store.set((s) => {
        const thread = s.threads[conversationId];
        const patch: Partial<AppState> = {};
        if (thread && !thread.items.some((x) => x.id === m.id)) {
            patch.threads = { ...s.threads, [conversationId]: { ...thread, items: [...thread.items, m] } };
        }
        const conv = s.conversations.items.find((c) => c.id === conversationId);
        if (conv) {
            patch.conversations = {
                ...s.conversations,
                items: [{ ...conv, lastMessage: m }, ...s.conversations.items.filter((c) => c.id !== conversationId)],
            };
        }
        return patch;
    });
}

export function sendTyping(conversationId: string): void {
    getRealtime().sendTyping(conversationId);
}

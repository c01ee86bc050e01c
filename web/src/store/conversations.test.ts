// The conversation list's store actions against a fake API (vi.mock): first page on open, "Load more"
// with before=nextCursor, no duplicates, stop at the last page, live moves kept.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Conversation, Page } from '../api/types';

const conversations = vi.fn<(before?: string | null, limit?: number) => Promise<Page<Conversation>>>();
vi.mock('../api/endpoints', () => ({ api: { conversations: (...a: [string | null | undefined]) => conversations(...a) } }));

const { store, loadConversations, loadMoreConversations } = await import('./app');
const { applyEvent, initialState } = await import('./state');

const alice = { id: '1', handle: 'alice', displayName: 'Alice' };
const c = (id: string, last = Number(id)): Conversation => ({
    id,
    participants: [alice],
    createdAt: '',
    lastMessage: { id: `m${last}`, conversationId: id, sender: alice, content: '', createdAt: '', seq: String(last) },
});
const ids = () => store.get().conversations.items.map((x) => x.id);

describe('conversation list paging', () => {
    beforeEach(() => {
        store.set(initialState());
        conversations.mockReset();
    });

    it('loads the first page, then older pages with before=nextCursor until there is no cursor', async () => {
        conversations.mockResolvedValueOnce({ items: [c('90'), c('80')], nextCursor: '80' });
        await loadConversations();
        expect(conversations).toHaveBeenLastCalledWith();
        expect(ids()).toEqual(['90', '80']);
        expect(store.get().conversations.status).toBe('ready');

        conversations.mockResolvedValueOnce({ items: [c('80'), c('70')], nextCursor: '70' });
        await loadMoreConversations();
        expect(conversations).toHaveBeenLastCalledWith('80');
        expect(ids()).toEqual(['90', '80', '70']);

        conversations.mockResolvedValueOnce({ items: [c('60')], nextCursor: null });
        await loadMoreConversations();
        expect(conversations).toHaveBeenLastCalledWith('70');
        expect(ids()).toEqual(['90', '80', '70', '60']);
        expect(store.get().conversations.nextCursor).toBeNull();

        await loadMoreConversations(); // nothing more to fetch
        expect(conversations).toHaveBeenCalledTimes(3);
    });

    it('accepts a page without nextCursor as the last one', async () => {
        conversations.mockResolvedValueOnce({ items: [c('5')] } as Page<Conversation>);
        await loadConversations();
        expect(store.get().conversations.nextCursor).toBeNull();
    });

    it('fetches one older page at a time', async () => {
        conversations.mockResolvedValueOnce({ items: [c('90')], nextCursor: '90' });
        await loadConversations();
        let release!: (p: Page<Conversation>) => void;
        conversations.mockReturnValueOnce(new Promise((r) => (release = r)));
        const first = loadMoreConversations();
        expect(store.get().conversations.loadingMore).toBe(true);
        await loadMoreConversations();
        release({ items: [c('80')], nextCursor: null });
        await first;
        expect(conversations).toHaveBeenCalledTimes(2);
        expect(store.get().conversations.loadingMore).toBe(false);
        expect(ids()).toEqual(['90', '80']);
    });

    it('keeps a live move to the top and older pages across a refresh, each conversation once', async () => {
        conversations.mockResolvedValueOnce({ items: [c('90'), c('80')], nextCursor: '80' });
        await loadConversations();
        conversations.mockResolvedValueOnce({ items: [c('70'), c('60')], nextCursor: '60' });
        await loadMoreConversations();
        // A message in '60' arrives live: it moves to the top.
        const s = store.get();
        store.set(
            applyEvent(s, {
                channel: 'messages',
                seq: '200',
                event: { id: 'e', type: 'MessageSent', userId: '1', timestamp: '', version: 1, payload: { message: c('60', 100).lastMessage, conversation: c('60') } },
            }).patch,
        );
        expect(ids()).toEqual(['60', '90', '80', '70']);
        // Opening a conversation refreshes the first page: nothing is lost or doubled.
        conversations.mockResolvedValueOnce({ items: [c('60', 100), c('90')], nextCursor: '90' });
        await loadConversations();
        expect(ids()).toEqual(['60', '90', '80', '70']);
        expect(store.get().conversations.nextCursor).toBe('60');
        conversations.mockResolvedValueOnce({ items: [c('50')], nextCursor: null });
        await loadMoreConversations();
        expect(conversations).toHaveBeenLastCalledWith('60');
        expect(ids()).toEqual(['60', '90', '80', '70', '50']);
    });

    it('keeps the list and re-enables "Load more" when an older page fails', async () => {
        conversations.mockResolvedValueOnce({ items: [c('90')], nextCursor: '90' });
        await loadConversations();
        conversations.mockRejectedValueOnce(new Error('offline'));
        await loadMoreConversations();
        expect(ids()).toEqual(['90']);
        expect(store.get().conversations).toMatchObject({ nextCursor: '90', loadingMore: false });
    });
});

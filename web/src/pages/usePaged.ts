// Local paging state for lists that are not global (profile tweets, followers, replies).
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Page } from '../api/types';
import { errorText } from '../store/app';

export interface Paged<T> {
    items: T[];
    status: 'loading' | 'ready' | 'error';
    error: string | null;
    hasMore: boolean;
    loadingMore: boolean;
    loadMore: () => void;
    reload: () => void;
    setItems: (f: (items: T[]) => T[]) => void;
}

export function usePaged<T extends { id: string }>(fetchPage: (before: string | null) => Promise<Page<T>>, key: string): Paged<T> {
    const [items, setItemsState] = useState<T[]>([]);
    const [status, setStatus] = useState<'loading' | 'ready' | 'error'>('loading');
    const [error, setError] = useState<string | null>(null);
    const [cursor, setCursor] = useState<string | null>(null);
    const [loadingMore, setLoadingMore] = useState(false);
    const gen = useRef(0);
    const fetchRef = useRef(fetchPage);
    fetchRef.current = fetchPage;

    const reload = useCallback(() => {
        const my = ++gen.current;
        setStatus('loading');
        setError(null);
        fetchRef
            .current(null)
            .then((p) => {
                if (my !== gen.current) return;
                setItemsState(p.items);
                setCursor(p.nextCursor);
                setStatus('ready');
            })
            .catch((err) => {
                if (my !== gen.current) return;
                setError(errorText(err));
                setStatus('error');
            });
    }, []);

    useEffect(() => {
        setItemsState([]);
        reload();
    }, [key, reload]);

    const loadMore = useCallback(() => {
        if (!cursor || loadingMore) return;
        const my = gen.current;
        setLoadingMore(true);
        fetchRef
            .current(cursor)
            .then((p) => {
                if (my !== gen.current) return;
                setItemsState((cur) => {
                    const ids = new Set(cur.map((x) => x.id));
                    return [...cur, ...p.items.filter((x) => !ids.has(x.id))];
                });
                setCursor(p.nextCursor);
            })
            .catch(() => {})
            .finally(() => setLoadingMore(false));
    }, [cursor, loadingMore]);

    return { items, status, error, hasMore: !!cursor, loadingMore, loadMore, reload, setItems: setItemsState };
}

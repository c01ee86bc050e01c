// A minimal external store (the zustand idea in 30 lines) read with useSyncExternalStore.
// Selectors must return values already in the state (or primitives) so React can compare
// snapshots by identity.
import { useSyncExternalStore } from 'react';

export interface Store<S> {
    get(): S;
    set(update: Partial<S> | ((s: S) => Partial<S>)): void;
    subscribe(fn: () => void): () => void;
}

export function createStore<S extends object>(initial: S): Store<S> {
    let state = initial;
    const subs = new Set<() => void>();
    return {
        get: () => state,
        set(update) {
            const patch = typeof update === 'function' ? update(state) : update;
            let changed = false;
            for (const k in patch) {
                if (!Object.is((patch as S)[k as keyof S], state[k as keyof S])) {
                    changed = true;
                    break;
                }
            }
            if (!changed) return;
            state = { ...state, ...patch };
            for (const fn of subs) fn();
        },
        subscribe(fn) {
            subs.add(fn);
            return () => {
                subs.delete(fn);
            };
        },
    };
}

export function useStore<S extends object, T>(store: Store<S>, selector: (s: S) => T): T {
    return useSyncExternalStore(
        store.subscribe,
        () => selector(store.get()),
        () => selector(store.get()),
    );
}

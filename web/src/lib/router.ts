// A tiny client-side router on the History API. chirpd serves index.html for unknown
// non-/api paths, so every route below works on reload and as a shared link.
import { createElement, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const listeners = new Set<() => void>();
let navigations = 0;

function notify(): void {
    for (const fn of listeners) fn();
}

if (typeof window !== 'undefined') {
    window.addEventListener('popstate', () => {
        navigations++;
        notify();
    });
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
    const current = location.pathname + location.search + location.hash;
    if (to === current) return;
    if (opts.replace) history.replaceState(null, '', to);
    else history.pushState(null, '', to);
    navigations++;
    if (!to.includes('#')) window.scrollTo(0, 0);
    notify();
}

/** How many navigations happened since load (0 = first render: do not steal focus). */
export function navigationCount(): number {
    return navigations;
}

function subscribe(fn: () => void): () => void {
    listeners.add(fn);
    return () => {
        listeners.delete(fn);
    };
}

export interface LocationInfo {
    path: string;
    query: URLSearchParams;
    href: string;
}

let cachedHref = '';
let cached: LocationInfo = { path: '/', query: new URLSearchParams(), href: '' };

function snapshot(): LocationInfo {
    const href = location.pathname + location.search;
    if (href !== cachedHref) {
        cachedHref = href;
        cached = { path: decodePath(location.pathname), query: new URLSearchParams(location.search), href };
    }
    return cached;
}

function decodePath(p: string): string {
    try {
        return decodeURI(p);
    } catch {
        return p;
    }
}

export function useLocation(): LocationInfo {
    return useSyncExternalStore(subscribe, snapshot, snapshot);
}

/** Match '/u/:handle' against '/u/alice' → { handle: 'alice' }; null when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
    const p = pattern.split('/').filter(Boolean);
    const s = path.replace(/\/+$/, '').split('/').filter(Boolean);
    if (p.length !== s.length) return null;
    const params: Record<string, string> = {};
    for (let i = 0; i < p.length; i++) {
        if (p[i].startsWith(':')) params[p[i].slice(1)] = s[i];
        else if (p[i] !== s[i]) return null;
    }
    return params;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; replace?: boolean };

export function Link({ to, replace, onClick, ...rest }: LinkProps) {
    const handle = (e: MouseEvent<HTMLAnchorElement>) => {
        onClick?.(e);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        if (rest.target && rest.target !== '_self') return;
        e.preventDefault();
        navigate(to, { replace });
    };
    return createElement('a', { ...rest, href: to, onClick: handle });
}

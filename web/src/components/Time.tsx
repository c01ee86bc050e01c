import { useEffect, useState } from 'react';
import { fullTime, relativeTime } from '../lib/text';

// One shared ticker so every relative time on screen refreshes together, twice a minute.
const subscribers = new Set<() => void>();
let timer: number | null = null;
function subscribe(fn: () => void): () => void {
    subscribers.add(fn);
    if (timer === null) timer = window.setInterval(() => subscribers.forEach((f) => f()), 30_000);
    return () => {
        subscribers.delete(fn);
        if (subscribers.size === 0 && timer !== null) {
            window.clearInterval(timer);
            timer = null;
        }
    };
}

export function Time({ iso }: { iso: string }) {
    const [, setTick] = useState(0);
    useEffect(() => subscribe(() => setTick((n) => n + 1)), []);
    return (
        <time dateTime={iso} title={fullTime(iso)}>
            {relativeTime(iso)}
        </time>
    );
}

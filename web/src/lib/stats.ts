// Polls GET /api/stats every 5 s while at least one component wants it, and keeps the
// last 10 minutes of samples (in memory) for the dashboard's sparklines.
import { useEffect } from 'react';
import { api } from '../api/endpoints';
import type { Stats } from '../api/types';
import { createStore, useStore } from '../store/core';

export const STATS_PERIOD_MS = 5000;
const KEEP = 120; // 10 minutes at 5 s

export interface StatsSample {
    t: number;
    s: Stats;
}

interface StatsState {
    samples: StatsSample[];
    error: string | null;
    loading: boolean;
}

export const statsStore = createStore<StatsState>({ samples: [], error: null, loading: false });

let users = 0;
let timer: number | null = null;
let inflight = false;

async function poll(): Promise<void> {
    // Skip while the browser is offline: a failed request would only add noise.
    if (!navigator.onLine || inflight) return;
    inflight = true;
    statsStore.set({ loading: true });
    try {
        const s = await api.stats();
        statsStore.set((st) => ({
            samples: [...st.samples.slice(-(KEEP - 1)), { t: Date.now(), s }],
            error: null,
            loading: false,
        }));
    } catch (err) {
        statsStore.set({ error: err instanceof Error ? err.message : 'unavailable', loading: false });
    } finally {
        inflight = false;
    }
}

function acquire(): void {
    users++;
    if (users === 1) {
        void poll();
        timer = window.setInterval(() => void poll(), STATS_PERIOD_MS);
    }
}

function release(): void {
    users--;
    if (users === 0 && timer !== null) {
        window.clearInterval(timer);
        timer = null;
    }
}

export function useStats(): StatsState {
    useEffect(() => {
        acquire();
        return release;
    }, []);
    return useStore(statsStore, (s) => s);
}

export function series(samples: StatsSample[], pick: (s: Stats) => number | undefined): number[] {
    return samples.map((x) => {
        try {
            return pick(x.s) ?? NaN;
        } catch {
            return NaN;
        }
    });
}

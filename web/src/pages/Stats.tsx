// The live dashboard: GET /api/stats every 5 s, current values, and sparklines of the last
// 10 minutes (kept in memory while the app is open).
import { Empty, Spinner } from '../components/Feedback';
import { PageHeader } from '../components/PageHeader';
import { Sparkline } from '../components/Sparkline';
import { series, useStats, STATS_PERIOD_MS } from '../lib/stats';
import type { Stats } from '../api/types';
import { plural } from '../lib/text';

interface Card {
    key: string;
    label: string;
    pick: (s: Stats) => number | undefined;
    format: (v: number) => string;
    hint?: (s: Stats) => string;
}

const int = (v: number) => Math.round(v).toLocaleString();
const rate = (v: number) => (v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString());
const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`;

const cards: Card[] = [
    { key: 'connections', label: 'Connections', pick: (s) => s.connections, format: int, hint: (s) => `peak ${int(s.peakConnections ?? 0)}` },
    { key: 'online', label: 'Online users', pick: (s) => s.onlineUsers, format: int, hint: (s) => `${int(s.users ?? 0)} registered` },
    { key: 'mps', label: 'Messages / s', pick: (s) => s.messagesPerSecond, format: rate, hint: (s) => `${rate(s.requestsPerSecond ?? 0)} requests/s` },
    { key: 'p50', label: 'Delivery p50', pick: (s) => s.deliveryLatencyMs?.p50, format: ms },
    { key: 'p99', label: 'Delivery p99', pick: (s) => s.deliveryLatencyMs?.p99, format: ms, hint: (s) => `max ${ms(s.deliveryLatencyMs?.max ?? 0)}` },
    { key: 'events', label: 'Events stored', pick: (s) => s.eventsStored, format: int, hint: (s) => plural(s.tweets ?? 0, 'tweet') },
];

function uptime(sec: number): string {
    const s = Math.floor(sec);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

export function StatsPage() {
    const { samples, error } = useStats();
    const last = samples[samples.length - 1]?.s;
    const minutes = Math.max(1, Math.round((samples.length * STATS_PERIOD_MS) / 60000));

    return (
        <>
            <PageHeader
                title="Live stats"
                sub={last ? `Up ${uptime(last.uptimeSeconds ?? 0)} · refreshed every 5 s · last ${minutes} min` : 'Refreshed every 5 s'}
            />
            {error && (
                <p className="inline-error" role="alert">
                    Stats unavailable: {error}
                </p>
            )}
            {!last && !error && <Spinner label="Loading stats" />}
            {!last && error && <Empty title="No data yet" />}
            {last && (
                <div className="stat-grid" data-testid="stats">
                    {cards.map((c) => {
                        const v = c.pick(last);
                        const values = series(samples, c.pick);
                        const text = v === undefined ? '–' : c.format(v);
                        return (
                            <section className="stat" key={c.key} aria-labelledby={`stat-${c.key}`} data-testid={`stat-${c.key}`}>
                                <h2 id={`stat-${c.key}`} className="stat__label">
                                    {c.label}
                                </h2>
                                <p className="stat__value" data-testid={`stat-${c.key}-value`} data-value={v ?? ''}>
                                    {text}
                                </p>
                                {c.hint && <p className="stat__hint">{c.hint(last)}</p>}
                                <Sparkline values={values} width={240} height={48} label={`${c.label} over the last ${minutes} minutes`} />
                            </section>
                        );
                    })}
                </div>
            )}
            {last && (
                <dl className="stat-more">
                    <div><dt>Request latency p50 / p99</dt><dd>{ms(last.requestLatencyMs?.p50 ?? 0)} / {ms(last.requestLatencyMs?.p99 ?? 0)}</dd></div>
                    <div><dt>Sessions</dt><dd>{int(last.sessions ?? 0)}</dd></div>
                    <div><dt>Replays / resyncs</dt><dd>{int(last.replays ?? 0)} / {int(last.resyncs ?? 0)}</dd></div>
                    <div><dt>Slow-consumer closes</dt><dd>{int(last.slowConsumerCloses ?? 0)}</dd></div>
                    <div><dt>Redis reconnects</dt><dd>{int(last.redisReconnects ?? 0)}</dd></div>
                </dl>
            )}
        </>
    );
}

// The right-hand column: people search, who to follow, and a glance at live stats.
import { useEffect, useId, useState, type FormEvent } from 'react';
import { api } from '../api/endpoints';
import type { User } from '../api/types';
import { Link, navigate } from '../lib/router';
import { series, useStats } from '../lib/stats';
import { compactNumber } from '../lib/text';
import { useApp } from '../store/app';
import { Icon } from './Icons';
import { Sparkline } from './Sparkline';
import { UserRow } from './UserRow';

export function SearchBox({ initial = '' }: { initial?: string }) {
    const [q, setQ] = useState(initial);
    const id = useId();
    const submit = (e: FormEvent) => {
        e.preventDefault();
        const term = q.trim().replace(/^@/, '');
        navigate(`/search${term ? `?q=${encodeURIComponent(term)}` : ''}`);
    };
    return (
        <form role="search" className="searchbox" onSubmit={submit}>
            <label htmlFor={id} className="sr-only">
                Search people by handle
            </label>
            <Icon name="search" size={18} />
            <input
                id={id}
                type="search"
                value={q}
                onChange={(e) => setQ(e.target.value)}
                placeholder="Search people"
                autoComplete="off"
                spellCheck={false}
            />
        </form>
    );
}

function WhoToFollow() {
    const meId = useApp((s) => s.session?.user.id);
    const [users, setUsers] = useState<User[] | null>(null);

    useEffect(() => {
        let live = true;
        api.searchUsers('', 30)
            .then((r) => live && setUsers(r.items))
            .catch(() => live && setUsers([]));
        return () => {
            live = false;
        };
    }, [meId]);

    // Suggest people not followed when the list was fetched; rows stay after a follow so the
    // button can show the new state (and be undone).
    const picks = (users ?? []).filter((u) => u.id !== meId && !u.followedByMe).slice(0, 4);

    return (
        <section className="panel" aria-labelledby="wtf-title">
            <h2 id="wtf-title" className="panel__title">
                Who to follow
            </h2>
            {users === null ? (
                <p className="muted">Loading…</p>
            ) : picks.length === 0 ? (
                <p className="muted">You follow everyone we know. Try the search above.</p>
            ) : (
                <ul className="user-list">
                    {picks.map((u) => (
                        <UserRow key={u.id} user={u} compact />
                    ))}
                </ul>
            )}
        </section>
    );
}

function StatsGlance() {
    const { samples } = useStats();
    const last = samples[samples.length - 1]?.s;
    const rows: [string, number[], number | undefined][] = [
        ['Connections', series(samples, (s) => s.connections), last?.connections],
        ['Online users', series(samples, (s) => s.onlineUsers), last?.onlineUsers],
        ['Messages/s', series(samples, (s) => s.messagesPerSecond), last?.messagesPerSecond],
    ];
    return (
        <section className="panel" aria-labelledby="glance-title">
            <h2 id="glance-title" className="panel__title">
                Live on Chirp
            </h2>
            <dl className="glance">
                {rows.map(([label, values, value]) => (
                    <div className="glance__row" key={label}>
                        <dt>{label}</dt>
                        <dd>
                            <Sparkline values={values.slice(-24)} width={90} height={24} />
                            <span className="glance__value">{value === undefined ? '–' : compactNumber(value)}</span>
                        </dd>
                    </div>
                ))}
            </dl>
            <Link to="/stats" className="panel__more">
                Open the dashboard
            </Link>
        </section>
    );
}

export function SidePanel() {
    return (
        <aside className="side" aria-label="Discover">
            <SearchBox />
            <WhoToFollow />
            <StatsGlance />
            <footer className="side__foot">Chirp · real-time, in the open</footer>
        </aside>
    );
}

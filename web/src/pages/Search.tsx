// People search by handle prefix, as you type (debounced), with follow buttons.
import { useEffect, useId, useState } from 'react';
import { api } from '../api/endpoints';
import type { User } from '../api/types';
import { Empty, Spinner } from '../components/Feedback';
import { Icon } from '../components/Icons';
import { PageHeader } from '../components/PageHeader';
import { UserRow } from '../components/UserRow';
import { navigate, useLocation } from '../lib/router';
import { errorText } from '../store/app';

export function SearchPage() {
    const { query } = useLocation();
    const initial = query.get('q') ?? '';
    const [q, setQ] = useState(initial);
    const [results, setResults] = useState<User[] | null>(null);
    const [error, setError] = useState<string | null>(null);
    const [loading, setLoading] = useState(false);
    const id = useId();

    const term = q.trim().replace(/^@/, '');
    // Follow the URL when it changes from outside (the side panel's search box).
    useEffect(() => {
        setQ((cur) => (cur.trim().replace(/^@/, '') === initial ? cur : initial));
    }, [initial]);
    const valid = /^[A-Za-z0-9_]{0,15}$/.test(term);

    useEffect(() => {
        if (!valid) {
            setResults([]);
            return;
        }
        let live = true;
        setLoading(true);
        const t = window.setTimeout(() => {
            api.searchUsers(term, 20)
                .then((r) => live && (setResults(r.items), setError(null)))
                .catch((err) => live && setError(errorText(err)))
                .finally(() => live && setLoading(false));
            // Keep the URL shareable without adding history entries per keystroke.
            navigate(`/search${term ? `?q=${encodeURIComponent(term)}` : ''}`, { replace: true });
        }, 200);
        return () => {
            live = false;
            window.clearTimeout(t);
        };
    }, [term, valid]);

    return (
        <>
            <PageHeader title="Explore" docTitle={term ? `Search: ${term}` : 'Explore'} />
            <form role="search" className="searchbox searchbox--page" onSubmit={(e) => e.preventDefault()}>
                <label htmlFor={id} className="sr-only">
                    Search people by handle
                </label>
                <Icon name="search" size={18} />
                <input
                    id={id}
                    type="search"
                    value={q}
                    onChange={(e) => setQ(e.target.value)}
                    placeholder="Search people by handle"
                    autoComplete="off"
                    spellCheck={false}
                    autoFocus
                    data-testid="search-input"
                    aria-describedby={`${id}-status`}
                />
            </form>
            <p id={`${id}-status`} className="sr-only" aria-live="polite">
                {results ? `${results.length} ${results.length === 1 ? 'person' : 'people'} found` : ''}
            </p>
            {!valid && <p className="inline-error">Handles use only letters, digits and _.</p>}
            {error && <p className="inline-error" role="alert">{error}</p>}
            {loading && results === null && <Spinner />}
            {results && results.length === 0 && valid && <Empty title={`No one matches “${term}”`} />}
            {results && results.length > 0 && (
                <ul className="user-list user-list--page" aria-label="People" data-testid="search-results">
                    {results.map((u) => (
                        <UserRow key={u.id} user={u} />
                    ))}
                </ul>
            )}
        </>
    );
}

// A profile: header with counts and follow toggle; tabs for tweets, followers, following.
import { useEffect, useState } from 'react';
import { api } from '../api/endpoints';
import { ApiError } from '../api/http';
import type { Tweet, User } from '../api/types';
import { Avatar } from '../components/Avatar';
import { Empty, Spinner } from '../components/Feedback';
import { PageHeader } from '../components/PageHeader';
import { TweetCard } from '../components/TweetCard';
import { FollowButton, UserRow } from '../components/UserRow';
import { Link, navigate } from '../lib/router';
import { compactNumber, plural } from '../lib/text';
import { errorText, useApp } from '../store/app';
import { usePaged } from './usePaged';

type Tab = 'tweets' | 'followers' | 'following';

function joined(iso: string): string {
    const t = Date.parse(iso);
    return Number.isNaN(t) ? '' : new Date(t).toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
}

export function ProfilePage({ handle, tab = 'tweets' }: { handle: string; tab?: Tab }) {
    const meHandle = useApp((s) => s.session?.user.handle);
    const myTweetsCount = useApp((s) => s.session?.user.tweets);
    const [user, setUser] = useState<User | null>(null);
    const [error, setError] = useState<{ status: number; text: string } | null>(null);

    useEffect(() => {
        let live = true;
        setUser(null);
        setError(null);
        api.user(handle)
            .then((u) => live && setUser(u))
            .catch((err) => live && setError({ status: err instanceof ApiError ? err.status : 0, text: errorText(err) }));
        return () => {
            live = false;
        };
    }, [handle]);

    if (error) {
        return (
            <>
                <PageHeader title={error.status === 404 ? 'User not found' : 'Profile'} />
                <Empty title={error.status === 404 ? `@${handle} doesn't exist` : 'Could not load this profile'}>
                    {error.status === 404 ? <Link to="/search">Search for people</Link> : error.text}
                </Empty>
            </>
        );
    }
    if (!user) {
        return (
            <>
                <PageHeader title={`@${handle}`} />
                <Spinner label="Loading profile" />
            </>
        );
    }

    const isMe = meHandle?.toLowerCase() === user.handle.toLowerCase();
    const base = `/u/${user.handle}`;
    const tabs: [Tab, string, string][] = [
        ['tweets', 'Tweets', base],
        ['followers', 'Followers', `${base}/followers`],
        ['following', 'Following', `${base}/following`],
    ];
    const tweets = isMe && myTweetsCount !== undefined ? myTweetsCount : user.tweets;

    return (
        <>
            <PageHeader title={user.displayName} sub={plural(tweets, 'tweet')} docTitle={`${user.displayName} (@${user.handle})`} />
            <section className="profile" aria-label="Profile">
                <div className="profile__banner" aria-hidden="true" />
                <div className="profile__top">
                    <Avatar user={user} size={88} />
                    {isMe ? null : (
                        <FollowButton
                            user={user}
                            onChange={(u) => setUser((cur) => (cur ? { ...cur, followers: u.followers, followedByMe: u.followedByMe } : cur))}
                        />
                    )}
                </div>
                <p className="profile__name">{user.displayName}</p>
                <p className="profile__handle">@{user.handle}</p>
                <p className="profile__joined">Joined {joined(user.createdAt)}</p>
                <p className="profile__counts">
                    <Link to={`${base}/following`}>
                        <strong data-testid="following-count">{compactNumber(user.following)}</strong> Following
                    </Link>
                    <Link to={`${base}/followers`}>
                        <strong data-testid="followers-count">{compactNumber(user.followers)}</strong> Followers
                    </Link>
                </p>
            </section>
            <nav className="tabs" aria-label="Profile sections">
                {tabs.map(([t, label, to]) => (
                    <Link key={t} to={to} className={`tab${tab === t ? ' is-active' : ''}`} aria-current={tab === t ? 'page' : undefined} replace>
                        {label}
                    </Link>
                ))}
            </nav>
            {tab === 'tweets' ? <ProfileTweets handle={user.handle} /> : <ProfilePeople handle={user.handle} kind={tab} />}
        </>
    );
}

function ProfileTweets({ handle }: { handle: string }) {
    const list = usePaged<Tweet>((before) => api.userTweets(handle, before), `tweets:${handle}`);
    const deleted = useApp((s) => s.deleted);
    const items = list.items.filter((t) => !deleted[t.id]);
    return (
        <section aria-label={`Tweets by @${handle}`} aria-busy={list.status === 'loading'} data-testid="profile-tweets">
            {list.status === 'loading' && <Spinner />}
            {list.status === 'error' && <p className="inline-error" role="alert">{list.error}</p>}
            {list.status === 'ready' && items.length === 0 && <Empty title="No tweets yet" />}
            {items.map((t) => (
                <TweetCard key={t.id} tweet={t} />
            ))}
            {list.hasMore && (
                <div className="more">
                    <button type="button" className="btn btn--outline" onClick={list.loadMore} disabled={list.loadingMore}>
                        {list.loadingMore ? 'Loading…' : 'Show more'}
                    </button>
                </div>
            )}
        </section>
    );
}

function ProfilePeople({ handle, kind }: { handle: string; kind: 'followers' | 'following' }) {
    const list = usePaged<User>(
        (before) => (kind === 'followers' ? api.followers(handle, before) : api.following(handle, before)),
        `${kind}:${handle}`,
    );
    return (
        <section aria-label={kind === 'followers' ? `Followers of @${handle}` : `People @${handle} follows`} aria-busy={list.status === 'loading'}>
            {list.status === 'loading' && <Spinner />}
            {list.status === 'error' && <p className="inline-error" role="alert">{list.error}</p>}
            {list.status === 'ready' && list.items.length === 0 && (
                <Empty title={kind === 'followers' ? 'No followers yet' : 'Not following anyone yet'} />
            )}
            <ul className="user-list user-list--page">
                {list.items.map((u) => (
                    <UserRow key={u.id} user={u} />
                ))}
            </ul>
            {list.hasMore && (
                <div className="more">
                    <button type="button" className="btn btn--outline" onClick={list.loadMore} disabled={list.loadingMore}>
                        Show more
                    </button>
                </div>
            )}
        </section>
    );
}

export function MeRedirect() {
    const me = useApp((s) => s.session?.user.handle);
    useEffect(() => {
        if (me) navigate(`/u/${me}`, { replace: true });
    }, [me]);
    return null;
}

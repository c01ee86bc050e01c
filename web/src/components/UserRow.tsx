// A user in a list (search results, followers, who-to-follow) with a follow toggle.
import type { User } from '../api/types';
import { Link } from '../lib/router';
import { plural } from '../lib/text';
import { followedByMe, setFollowing, useApp } from '../store/app';
import { Avatar } from './Avatar';

export function FollowButton({ user, onChange }: { user: User; onChange?: (u: User) => void }) {
    const meId = useApp((s) => s.session?.user.id);
    const following = useApp((s) => followedByMe(s, user));
    if (!meId || meId === user.id) return null;
    return (
        <button
            type="button"
            className={`btn ${following ? 'btn--outline follow--on' : 'btn--dark'}`}
            aria-pressed={following}
            aria-label={`${following ? 'Unfollow' : 'Follow'} @${user.handle}`}
            data-testid="follow-button"
            onClick={async () => {
                const updated = await setFollowing(user, !following);
                if (updated) onChange?.(updated);
            }}
        >
            <span className="follow__idle">{following ? 'Following' : 'Follow'}</span>
            {following && <span className="follow__hover" aria-hidden="true">Unfollow</span>}
        </button>
    );
}

export function UserRow({ user, compact = false }: { user: User; compact?: boolean }) {
    return (
        <li className={`user-row${compact ? ' user-row--compact' : ''}`}>
            <Avatar user={user} size={compact ? 36 : 44} />
            <div className="user-row__who">
                <Link to={`/u/${user.handle}`} className="user-row__name">
                    {user.displayName}
                </Link>
                <span className="user-row__handle">@{user.handle}</span>
                {!compact && (
                    <span className="user-row__meta">
                        {plural(user.followers, 'follower')} · {plural(user.tweets, 'tweet')}
                    </span>
                )}
            </div>
            <FollowButton user={user} />
        </li>
    );
}

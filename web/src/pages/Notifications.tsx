// Notifications: newest first, unread ones marked; "Mark all as read" clears the badge.
import { useEffect } from 'react';
import type { Notification } from '../api/types';
import { Avatar } from '../components/Avatar';
import { Empty, Spinner } from '../components/Feedback';
import { Icon } from '../components/Icons';
import { PageHeader } from '../components/PageHeader';
import { Time } from '../components/Time';
import { Link } from '../lib/router';
import { loadMoreNotifications, loadNotifications, markNotificationsRead, useApp } from '../store/app';
import { notificationText, targetOf } from '../store/state';

const icons: Record<Notification['type'], Parameters<typeof Icon>[0]['name']> = {
    like: 'heartFilled',
    retweet: 'repeat',
    reply: 'reply',
    follow: 'user',
    mention: 'bell',
    message: 'mail',
    draft_invite: 'edit',
};

function linkFor(n: Notification): string {
    if (n.type === 'message' && n.conversationId) return `/messages/${n.conversationId}`;
    if (n.type === 'draft_invite' && n.draftId) return `/drafts/${n.draftId}`;
    if (n.type === 'follow') return `/u/${n.actor.handle}`;
    if (n.tweet) return `/tweet/${n.tweet.id}`;
    return `/u/${n.actor.handle}`;
}

export function NotificationsPage() {
    const n = useApp((s) => s.notifications);
    useEffect(() => {
        void loadNotifications();
    }, []);

    return (
        <>
            <PageHeader title="Notifications" sub={n.unread ? `${n.unread} unread` : 'All caught up'}>
                <button type="button" className="btn btn--outline" onClick={() => void markNotificationsRead()} disabled={n.unread === 0} data-testid="mark-read">
                    Mark all as read
                </button>
            </PageHeader>
            <section aria-label="Notifications" aria-busy={n.status === 'loading'}>
                {n.status === 'loading' && n.items.length === 0 && <Spinner />}
                {n.status === 'error' && n.items.length === 0 && (
                    <p className="inline-error" role="alert">
                        Could not load notifications.{' '}
                        <button type="button" className="linkish" onClick={() => void loadNotifications()}>
                            Try again
                        </button>
                    </p>
                )}
                {n.status === 'ready' && n.items.length === 0 && <Empty title="Nothing yet">Likes, follows, mentions, replies and messages show up here.</Empty>}
                <ul className="notif-list">
                    {n.items.map((x) => (
                        <li key={x.id} className={`notif notif--${x.type}${x.read ? '' : ' is-unread'}`} data-testid="notification">
                            <span className={`notif__icon notif__icon--${x.type}`}>
                                <Icon name={icons[x.type] ?? 'bell'} size={20} />
                            </span>
                            <div className="notif__body">
                                <Avatar user={x.actor} size={32} />
                                <p className="notif__text">
                                    <Link to={linkFor(x)}>{notificationText(x)}</Link>
                                    {!x.read && <span className="sr-only"> (unread)</span>}{' '}
                                    <span className="muted">
                                        · <Time iso={x.createdAt} />
                                    </span>
                                </p>
                                {x.tweet && <p className="notif__tweet">{targetOf(x.tweet).content}</p>}
                            </div>
                        </li>
                    ))}
                </ul>
                {n.nextCursor && (
                    <div className="more">
                        <button type="button" className="btn btn--outline" onClick={() => void loadMoreNotifications()}>
                            Older notifications
                        </button>
                    </div>
                )}
            </section>
        </>
    );
}

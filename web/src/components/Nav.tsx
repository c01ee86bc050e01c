// Primary navigation: a sidebar on wide screens, a bottom tab bar on narrow ones.
import { Link, useLocation } from '../lib/router';
import { logout, useApp } from '../store/app';
import { Avatar } from './Avatar';
import { ConnectionStatus } from './ConnectionStatus';
import { Icon } from './Icons';

interface Item {
    to: string;
    label: string;
    icon: Parameters<typeof Icon>[0]['name'];
    match: (path: string) => boolean;
    badge?: number;
    testId?: string;
}

export function Nav() {
    const { path } = useLocation();
    const me = useApp((s) => s.session?.user);
    const unread = useApp((s) => s.notifications.unread);
    if (!me) return null;

    const items: Item[] = [
        { to: '/', label: 'Home', icon: 'home', match: (p) => p === '/' },
        { to: '/search', label: 'Explore', icon: 'search', match: (p) => p.startsWith('/search') || p.startsWith('/tag/') },
        {
            to: '/notifications',
            label: 'Notifications',
            icon: 'bell',
            match: (p) => p.startsWith('/notifications'),
            badge: unread,
            testId: 'nav-notifications',
        },
        { to: '/messages', label: 'Messages', icon: 'mail', match: (p) => p.startsWith('/messages') },
        { to: '/drafts', label: 'Drafts', icon: 'edit', match: (p) => p.startsWith('/drafts'), testId: 'nav-drafts' },
        { to: `/u/${me.handle}`, label: 'Profile', icon: 'user', match: (p) => p.toLowerCase() === `/u/${me.handle.toLowerCase()}` },
        { to: '/stats', label: 'Live stats', icon: 'chart', match: (p) => p.startsWith('/stats') },
    ];

    return (
        <nav className="nav" aria-label="Primary">
            <Link to="/" className="nav__brand" aria-label="Chirp home">
                <Icon name="bird" size={28} />
                <span className="nav__brand-text">Chirp</span>
            </Link>
            <ul className="nav__list">
                {items.map((it) => {
                    const active = it.match(path);
                    return (
                        <li key={it.to}>
                            <Link
                                to={it.to}
                                className={`nav__item${active ? ' is-active' : ''}`}
                                aria-current={active ? 'page' : undefined}
                                data-testid={it.testId}
                            >
                                <span className="nav__icon">
                                    <Icon name={it.icon} size={24} />
                                    {it.badge ? (
                                        <span className="badge" data-testid="unread-badge">
                                            {it.badge > 99 ? '99+' : it.badge}
                                        </span>
                                    ) : null}
                                </span>
                                <span className="nav__label">
                                    {it.label}
                                    {it.badge ? <span className="sr-only">, {it.badge} unread</span> : null}
                                </span>
                            </Link>
                        </li>
                    );
                })}
            </ul>
            <div className="nav__footer">
                <ConnectionStatus />
                <div className="nav__me">
                    <Avatar user={me} size={36} />
                    <span className="nav__me-who">
                        <span className="nav__me-name">{me.displayName}</span>
                        <span className="nav__me-handle">@{me.handle}</span>
                    </span>
                    <button type="button" className="icon-btn" onClick={() => logout()} aria-label="Log out" title="Log out" data-testid="logout">
                        <Icon name="logout" size={20} />
                    </button>
                </div>
            </div>
        </nav>
    );
}

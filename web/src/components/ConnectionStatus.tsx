// Always-visible connection state: connected / connecting / reconnecting in N s / offline.
// It is a polite live region, so screen readers hear changes without losing focus.
import { useEffect, useState } from 'react';
import { reconnectNow, useApp } from '../store/app';
import { Icon } from './Icons';

export function ConnectionStatus({ compact = false }: { compact?: boolean }) {
    const conn = useApp((s) => s.conn);
    const online = useApp((s) => s.online);
    const [now, setNow] = useState(() => Date.now());

    useEffect(() => {
        if (conn.state !== 'reconnecting') return;
        setNow(Date.now());
        const t = window.setInterval(() => setNow(Date.now()), 250);
        return () => window.clearInterval(t);
    }, [conn.state, conn.retryAt]);

    let label: string;
    let tone: 'ok' | 'wait' | 'bad';
    switch (conn.state) {
        case 'subscribed':
        case 'connected':
            label = 'Connected';
            tone = 'ok';
            break;
        case 'connecting':
        case 'authenticating':
            label = 'Connecting…';
            tone = 'wait';
            break;
        case 'reconnecting': {
            const secs = Math.max(0, Math.ceil(((conn.retryAt ?? now) - now) / 1000));
            label = secs > 0 ? `Reconnecting in ${secs} s` : 'Reconnecting…';
            tone = 'wait';
            break;
        }
        case 'offline':
            label = 'Offline';
            tone = 'bad';
            break;
        case 'error':
            label = 'Signed out';
            tone = 'bad';
            break;
        default:
            label = online ? 'Not connected' : 'Offline';
            tone = 'bad';
    }
    // Announce the state, not every countdown tick.
    const spoken = conn.state === 'reconnecting' ? 'Connection lost, reconnecting' : label;

    return (
        <div className={`conn conn--${tone}${compact ? ' conn--compact' : ''}`} data-testid="conn-status" data-state={conn.state}>
            <span role="status" aria-live="polite" className="sr-only">
                {spoken}
            </span>
            <Icon name={tone === 'bad' ? 'wifiOff' : 'wifi'} size={16} />
            <span className="conn__dot" aria-hidden="true" />
            <span className="conn__label" aria-hidden="true">
                {label}
            </span>
            {conn.state === 'reconnecting' && !compact && (
                <button type="button" className="linkish" onClick={reconnectNow}>
                    Retry now
                </button>
            )}
        </div>
    );
}

// Small stroke icons drawn by hand (24×24 grid). Decorative: callers give the text label.
import type { ReactElement } from 'react';

type IconName =
    | 'home' | 'search' | 'bell' | 'mail' | 'user' | 'chart' | 'heart' | 'heartFilled'
    | 'repeat' | 'reply' | 'trash' | 'logout' | 'bird' | 'send' | 'wifi' | 'wifiOff' | 'edit';

const paths: Record<IconName, ReactElement> = {
    home: <path d="M3 11 12 4l9 7M5 10v10h5v-6h4v6h5V10" />,
    search: <><circle cx="11" cy="11" r="6.5" /><path d="m16 16 5 5" /></>,
    bell: <path d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4l2-2Zm4 4a2 2 0 0 0 4 0" />,
    mail: <><rect x="3" y="5" width="18" height="14" rx="2" /><path d="m3.5 6.5 8.5 7 8.5-7" /></>,
    user: <><circle cx="12" cy="8" r="4" /><path d="M4 21c1-4.5 4.5-6.5 8-6.5s7 2 8 6.5" /></>,
    chart: <path d="M4 20V4M4 20h16M8 16v-5M12 16V8M16 16v-8M20 16v-3" />,
    heart: <path d="M12 20s-7.5-4.6-9-9.3C2 7.5 4 4.5 7.2 4.5c2 0 3.6 1.2 4.8 3 1.2-1.8 2.8-3 4.8-3 3.2 0 5.2 3 4.2 6.2-1.5 4.7-9 9.3-9 9.3Z" />,
    heartFilled: <path fill="currentColor" d="M12 20s-7.5-4.6-9-9.3C2 7.5 4 4.5 7.2 4.5c2 0 3.6 1.2 4.8 3 1.2-1.8 2.8-3 4.8-3 3.2 0 5.2 3 4.2 6.2-1.5 4.7-9 9.3-9 9.3Z" />,
    repeat: <path d="M4 10V8a2 2 0 0 1 2-2h12l-3-3m5 11v2a2 2 0 0 1-2 2H6l3 3M18 6l-3 3M6 18l3-3" />,
    reply: <path d="M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.8A8 8 0 1 1 21 12Z" />,
    trash: <path d="M4 7h16M9 7V4.5h6V7M6.5 7l1 13h9l1-13M10 11v6M14 11v6" />,
    logout: <path d="M10 4H5v16h5M15 8l4 4-4 4M19 12H9" />,
    bird: <path d="M3 17c5 2 10 1 13-3 2-2.7 2.3-5 2.5-6.5L21 6l-2.8-.3A3.8 3.8 0 0 0 11.6 8c-3 0-5.5-1.3-7.6-3.5-.6 2.7 0 5 2 6.6L4 11c.3 2 1.6 3.2 3.4 3.7L5 15.6c.7 1 2 1.6 3.4 1.8A10 10 0 0 1 3 17Z" />,
    send: <path d="M4 12 20 4l-6 16-3-7-7-1Zm7 1 9-9" />,
    wifi: <path d="M2.5 9a14 14 0 0 1 19 0M5.5 12.5a9.5 9.5 0 0 1 13 0M8.5 16a5 5 0 0 1 7 0M12 19.5h.01" />,
    edit: <path d="M4 20h4L19 9l-4-4L4 16v4Zm9-13 4 4" />,
    wifiOff: <path d="M3 3l18 18M8.5 16a5 5 0 0 1 6-.8M5.5 12.5a9.5 9.5 0 0 1 4-2.2M2.5 9a14 14 0 0 1 4.2-2.7M13 6.1a14 14 0 0 1 8.5 2.9M16.6 10.4a9.5 9.5 0 0 1 1.9 2.1M12 19.5h.01" />,
};

export function Icon({ name, size = 20, className }: { name: IconName; size?: number; className?: string }) {
    return (
        <svg
            className={className ? `icon ${className}` : 'icon'}
            width={size}
            height={size}
            viewBox="0 0 24 24"
            fill="none"
            stroke="currentColor"
            strokeWidth={1.8}
            strokeLinecap="round"
            strokeLinejoin="round"
            aria-hidden="true"
            focusable="false"
        >
            {paths[name]}
        </svg>
    );
}

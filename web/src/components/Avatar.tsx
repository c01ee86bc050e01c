import { hueFor, initial } from '../lib/text';
import type { UserRef } from '../api/types';

/** A lettered circle with a colour derived from the handle (no images to load). */
export function Avatar({ user, size = 44 }: { user: UserRef; size?: number }) {
    const hue = hueFor(user.handle);
    return (
        <span
            className="avatar"
            aria-hidden="true"
            style={{
                width: size,
                height: size,
                fontSize: size * 0.44,
                background: `hsl(${hue} 55% 38%)`,
            }}
        >
            {initial(user.displayName || user.handle)}
        </span>
    );
}

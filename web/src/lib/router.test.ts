import { describe, expect, it } from 'vitest';
import { matchPath } from './router';

describe('matchPath', () => {
    it('matches static and parameterised routes', () => {
        expect(matchPath('/', '/')).toEqual({});
        expect(matchPath('/u/:handle', '/u/alice')).toEqual({ handle: 'alice' });
        expect(matchPath('/u/:handle', '/u/alice/')).toEqual({ handle: 'alice' });
        expect(matchPath('/messages/:id', '/messages')).toBeNull();
        expect(matchPath('/u/:handle/followers', '/u/bob/followers')).toEqual({ handle: 'bob' });
        expect(matchPath('/stats', '/status')).toBeNull();
    });
});

// One function per REST endpoint of docs/api.md.
import { qs, request } from './http';
import type {
    AuthResult,
    Conversation,
    Draft,
    Message,
    NotificationPage,
    Page,
    PublishResult,
    Stats,
    Tweet,
    User,
} from './types';

const enc = encodeURIComponent;

export const api = {
    register: (handle: string, password: string, displayName: string) =>
        request<AuthResult>('POST', '/api/auth/register', { body: { handle, password, displayName }, anonymous: true }),
    login: (handle: string, password: string) =>
        request<AuthResult>('POST', '/api/auth/login', { body: { handle, password }, anonymous: true }),
    me: () => request<User>('GET', '/api/me'),

    searchUsers: (q: string, limit = 10, signal?: AbortSignal) =>
        request<{ items: User[] }>('GET', `/api/users${qs({ q, limit })}`, { signal }),
    user: (handle: string) => request<User>('GET', `/api/users/${enc(handle)}`),
    followers: (handle: string, before?: string | null, limit = 20) =>
        request<Page<User>>('GET', `/api/users/${enc(handle)}/followers${qs({ limit, before })}`),
    following: (handle: string, before?: string | null, limit = 20) =>
        request<Page<User>>('GET', `/api/users/${enc(handle)}/following${qs({ limit, before })}`),
    userTweets: (handle: string, before?: string | null, limit = 20) =>
        request<Page<Tweet>>('GET', `/api/users/${enc(handle)}/tweets${qs({ limit, before })}`),
    follow: (handle: string) => request<User>('POST', `/api/users/${enc(handle)}/follow`),
    unfollow: (handle: string) => request<User>('DELETE', `/api/users/${enc(handle)}/follow`),

    postTweet: (content: string, replyTo?: string | null) =>
        request<Tweet>('POST', '/api/tweets', { body: replyTo ? { content, replyTo } : { content } }),
    tweet: (id: string) => request<Tweet>('GET', `/api/tweets/${enc(id)}`),
    deleteTweet: (id: string) => request<{ deleted: string }>('DELETE', `/api/tweets/${enc(id)}`),
    like: (id: string) => request<Tweet>('POST', `/api/tweets/${enc(id)}/like`),
    unlike: (id: string) => request<Tweet>('DELETE', `/api/tweets/${enc(id)}/like`),
    retweet: (id: string) => request<Tweet>('POST', `/api/tweets/${enc(id)}/retweet`),
    replies: (id: string, before?: string | null, limit = 20) =>
        request<Page<Tweet>>('GET', `/api/tweets/${enc(id)}/replies${qs({ limit, before })}`),

    timeline: (before?: string | null, limit = 20) =>
        request<Page<Tweet>>('GET', `/api/timeline${qs({ limit, before })}`),
    notifications: (before?: string | null, limit = 20) =>
        request<NotificationPage>('GET', `/api/notifications${qs({ limit, before })}`),
    markRead: (upTo?: string) =>
        request<{ unread: number }>('POST', '/api/notifications/read', { body: upTo ? { upTo } : {} }),

    createConversation: (handles: string[]) =>
        request<Conversation>('POST', '/api/conversations', { body: { participants: handles } }),
    conversations: (before?: string | null, limit = 20) =>
        request<Page<Conversation>>('GET', `/api/conversations${qs({ limit, before })}`),
    messages: (conversationId: string, before?: string | null, limit = 30) =>
        request<Page<Message>>('GET', `/api/conversations/${enc(conversationId)}/messages${qs({ limit, before })}`),
    sendMessage: (conversationId: string, content: string) =>
        request<Message>('POST', `/api/conversations/${enc(conversationId)}/messages`, { body: { content } }),

    drafts: (before?: string | null, limit = 20) => request<Page<Draft>>('GET', `/api/drafts${qs({ limit, before })}`),
    createDraft: (text?: string) => request<Draft>('POST', '/api/drafts', { body: text ? { text } : {} }),
    draft: (id: string) => request<Draft>('GET', `/api/drafts/${enc(id)}`),
    addCollaborator: (id: string, handle: string) =>
        request<Draft>('POST', `/api/drafts/${enc(id)}/collaborators`, { body: { handle } }),
    removeCollaborator: (id: string, handle: string) =>
        request<Draft>('DELETE', `/api/drafts/${enc(id)}/collaborators/${enc(handle)}`),
    publishDraft: (id: string, version: number) =>
        request<PublishResult>('POST', `/api/drafts/${enc(id)}/publish`, { body: { version } }),
    discardDraft: (id: string) => request<null>('DELETE', `/api/drafts/${enc(id)}`),

    stats: (signal?: AbortSignal) => request<Stats>('GET', '/api/stats', { signal }),
};

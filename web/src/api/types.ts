// Wire types of the Chirp REST API (docs/api.md). Ids and seqs are strings (64-bit).

export interface UserRef {
    id: string;
    handle: string;
    displayName: string;
}

export interface User extends UserRef {
    createdAt: string;
    followers: number;
    following: number;
    tweets: number;
    followedByMe?: boolean;
}

export interface Tweet {
    id: string;
    author: UserRef;
    content: string;
    createdAt: string;
    replyTo: string | null;
    retweetOf: Tweet | null;
    mentions: string[];
    hashtags: string[];
    likes: number;
    retweets: number;
    replies: number;
    likedByMe: boolean;
    retweetedByMe: boolean;
    /** Co-authors of a tweet published from a collaborative draft (absent or [] otherwise). */
    coauthors?: UserRef[];
}

export type NotificationType = 'like' | 'retweet' | 'reply' | 'follow' | 'mention' | 'message' | 'draft_invite';

export interface Notification {
    id: string;
    seq: string;
    type: NotificationType;
    actor: UserRef;
    tweet: Tweet | null;
    conversationId: string | null;
    /** For `draft_invite`: the draft the actor (its owner) invited me to. */
    draftId?: string | null;
    createdAt: string;
    read: boolean;
}

export interface Message {
    id: string;
    conversationId: string;
    sender: UserRef;
    content: string;
    createdAt: string;
    seq: string;
}

export interface Conversation {
    id: string;
    participants: UserRef[];
    createdAt: string;
    lastMessage: Message | null;
}

/** A collaborative tweet draft (DRAFTS_SPEC: REST objects). */
export interface Draft {
    id: string;
    owner: UserRef;
    /** Without the owner, in the order they were added. */
    collaborators: UserRef[];
    text: string;
    version: number;
    codePoints: number;
    createdAt: string;
    updatedAt: string;
}

export interface PublishResult {
    tweet: Tweet;
    draft: Draft;
}

export interface Page<T> {
    items: T[];
    nextCursor: string | null;
}

export interface NotificationPage extends Page<Notification> {
    unread: number;
}

export interface AuthResult {
    user: User;
    token: string;
}

export interface Stats {
    uptimeSeconds: number;
    eventsStored: number;
    users: number;
    tweets: number;
    requestsPerSecond: number;
    requestLatencyMs: { p50: number; p99: number };
    connections: number;
    peakConnections: number;
    sessions: number;
    onlineUsers: number;
    messagesPerSecond: number;
    deliveryLatencyMs: { p50: number; p90: number; p99: number; max: number };
    slowConsumerCloses: number;
    replays: number;
    resyncs: number;
    redisReconnects: number;
}

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
}

export type NotificationType = 'like' | 'retweet' | 'reply' | 'follow' | 'mention' | 'message';

export interface Notification {
    id: string;
    seq: string;
    type: NotificationType;
    actor: UserRef;
    tweet: Tweet | null;
    conversationId: string | null;
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

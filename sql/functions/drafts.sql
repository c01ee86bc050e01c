-- Collaborative drafts (migration 012, docs/api.md "Drafts"): decide, apply and records.
--
--   chirp_rec_draft(d)           the Draft record {id, owner, collaborators, text, version,
--                                code_points, created_at, updated_at} (records.sql style)
--   chirp_draft_role(d, user)    'owner', 'collaborator' or NULL (a stranger)
--   chirp_decide_draft(cmd, actor)  every 'draft_*' command (chirp_decide hands them here)
--   chirp_apply_draft(e)         every Draft* event (chirp_apply hands them here), live and
--                                in chirp_rebuild()
--
-- Authorization: a stranger, an unknown or a closed (published, discarded) draft is 404 for
-- every command, so ids do not leak; what only the owner may do is 403 for a collaborator.
-- draft_append (the live editors' accepted updates, src/store/drafts.cpp) is the exception:
-- unknown is 404, closed or not a member is 403, a stale expected version 409 with the current
-- version ({"draft_conflict": {"version"}}).
--
-- The text: DraftCreated carries the initial text, each DraftUpdated the CodeMirror ChangeSet
-- JSON of one accepted update. SQL cannot apply a ChangeSet (UTF-16 positions), so
-- draft_append stores the text the C++ authority computed next to the events it appends, and
-- `chirpd rebuild-projections` folds the changes in C++ after chirp_rebuild()
-- (src/store/drafts_rebuild.cpp); the apply here keeps everything else (version, times,
-- collaborators, state). drafts_api_test checks that the fold of the log equals the
-- projection, live and after a rebuild.
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

CREATE OR REPLACE FUNCTION chirp_rec_draft(d drafts) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', d.id, 'owner', chirp_rec_user_ref(d.owner_id),
        'collaborators', COALESCE((SELECT jsonb_agg(chirp_rec_user_ref(c.user_id) ORDER BY c.seq)
                                   FROM draft_collaborators c WHERE c.draft_id = d.id),
                                  '[]'::jsonb),
        'text', d.text, 'version', d.version, 'code_points', d.code_points,
        'created_at', chirp_us(d.created_at), 'updated_at', chirp_us(d.updated_at));
END $$;

CREATE OR REPLACE FUNCTION chirp_draft_role(d drafts, uid bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN d.owner_id = uid THEN 'owner'
                WHEN EXISTS (SELECT 1 FROM draft_collaborators c
                             WHERE c.draft_id = d.id AND c.user_id = uid) THEN 'collaborator'
           END
$$;

CREATE OR REPLACE FUNCTION chirp_decide_draft(cmd jsonb, actor bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a jsonb := cmd->'args';
    d drafts;
    e events;
    u users;
    t tweets;
    role text;
    n bigint;
    upd jsonb;
    v bigint;
BEGIN
    IF cmd->>'type' = 'draft_create' THEN
        n := nextval('draft_ids');
        e := chirp_append('DraftCreated', actor, jsonb_build_object(
            'draftId', n::text, 'ownerId', actor::text, 'text', COALESCE(a->>'text', '')));
        SELECT * INTO d FROM drafts WHERE id = n;
        RETURN chirp_ok(201, jsonb_build_object('draft', chirp_rec_draft(d)), e);
    END IF;

    -- Every other command names an existing draft; the row lock orders its changes (the
    -- append lock of chirp_exec_rows already does across processes).
    SELECT * INTO d FROM drafts WHERE id = (a->>'draftId')::bigint FOR UPDATE;
    IF cmd->>'type' = 'draft_append' THEN
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such draft'); END IF;
        IF d.state <> 'open' OR chirp_draft_role(d, actor) IS NULL THEN
            RETURN chirp_err(403, 'forbidden', 'you cannot edit this draft');
        END IF;
        IF d.version <> (a->>'expected')::bigint THEN
            RETURN jsonb_build_object('status', 409, 'body', jsonb_build_object(
                'draft_conflict', jsonb_build_object('version', d.version)));
        END IF;
        v := d.version;
        FOR upd IN SELECT x FROM jsonb_array_elements(a->'updates') x LOOP
            v := v + 1;
            e := chirp_append('DraftUpdated', actor, jsonb_build_object(
                'draftId', d.id::text, 'version', v, 'clientId', upd->>'clientId',
                'userId', actor::text, 'changes', upd->'changes'));
        END LOOP;
        UPDATE drafts SET text = a->>'text' WHERE id = d.id;
        RETURN chirp_ok(200, jsonb_build_object('draft_append',
                                                jsonb_build_object('version', v)), e);
    END IF;

    IF NOT FOUND OR d.state <> 'open' THEN
        RETURN chirp_err(404, 'not_found', 'no such draft');
    END IF;
    role := chirp_draft_role(d, actor);
    IF role IS NULL THEN RETURN chirp_err(404, 'not_found', 'no such draft'); END IF;

    CASE cmd->>'type'
    WHEN 'draft_add_collaborator' THEN
        IF role <> 'owner' THEN
            RETURN chirp_err(403, 'forbidden', 'only the owner can invite collaborators');
        END IF;
        SELECT * INTO u FROM users WHERE lower(handle) = lower(a->>'handle');
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such user'); END IF;
        IF u.id = d.owner_id THEN
            RETURN chirp_err(422, 'validation_failed', 'you own this draft');
        END IF;
        IF chirp_draft_role(d, u.id) IS NOT NULL THEN
            RETURN chirp_err(422, 'validation_failed', 'already a collaborator');
        END IF;
        IF (SELECT count(*) FROM draft_collaborators WHERE draft_id = d.id) >= 10 THEN
            RETURN chirp_err(422, 'validation_failed', 'a draft has at most 10 collaborators');
        END IF;
        e := chirp_append('DraftCollaboratorAdded', actor, jsonb_build_object(
            'draftId', d.id::text, 'userId', u.id::text));

    WHEN 'draft_remove_collaborator' THEN
        SELECT * INTO u FROM users WHERE lower(handle) = lower(a->>'handle');
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such user'); END IF;
        IF role <> 'owner' AND u.id <> actor THEN
            RETURN chirp_err(403, 'forbidden', 'only the owner can remove collaborators');
        END IF;
        IF u.id = d.owner_id OR chirp_draft_role(d, u.id) IS NULL THEN
            RETURN chirp_err(404, 'not_found', 'not a collaborator of this draft');
        END IF;
        e := chirp_append('DraftCollaboratorRemoved', actor, jsonb_build_object(
            'draftId', d.id::text, 'userId', u.id::text));

    WHEN 'draft_publish' THEN
        IF role <> 'owner' THEN
            RETURN chirp_err(403, 'forbidden', 'only the owner can publish a draft');
        END IF;
        -- No content: the handler's read refused the request (it goes on only to find an
        -- Idempotency-Key's answer); the draft moved since.
        IF d.version <> (a->>'version')::bigint OR NOT a ? 'content' THEN
            RETURN chirp_err(409, 'conflict', 'draft moved past version ' || (a->>'version'));
        END IF;
        -- The tweet: the content the handler validated from the text at this version (the
        -- version check above makes it the draft's text), as POST /api/tweets appends one.
        n := nextval('tweet_ids');
        PERFORM chirp_append('DraftPublished', actor, jsonb_build_object(
            'draftId', d.id::text, 'version', d.version, 'tweetId', n::text));
        e := chirp_append('TweetCreated', actor, jsonb_build_object(
            'tweetId', n::text, 'content', a->>'content', 'replyTo', NULL, 'retweetOf', NULL,
            'mentions', (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', x.id::text,
                                                                      'handle', x.handle)
                                                   ORDER BY x.id), '[]'::jsonb)
                         FROM users x
                         WHERE lower(x.handle) = ANY (ARRAY(
                             SELECT lower(h)
                             FROM jsonb_array_elements_text(COALESCE(a->'mentions', '[]')) h))),
            'hashtags', COALESCE(a->'hashtags', '[]'::jsonb),
            'coauthors', (SELECT COALESCE(jsonb_agg(c.user_id::text ORDER BY c.seq), '[]'::jsonb)
                          FROM draft_collaborators c WHERE c.draft_id = d.id)));
        SELECT * INTO t FROM tweets WHERE id = n;
        SELECT * INTO d FROM drafts WHERE id = d.id;
        RETURN chirp_ok(201, jsonb_build_object('published', jsonb_build_object(
            'tweet', chirp_rec_tweet(t, actor), 'draft', chirp_rec_draft(d))), e);

    WHEN 'draft_discard' THEN
        IF role <> 'owner' THEN
            RETURN chirp_err(403, 'forbidden', 'only the owner can discard a draft');
        END IF;
        e := chirp_append('DraftDiscarded', actor, jsonb_build_object('draftId', d.id::text));
        RETURN chirp_ok(200, jsonb_build_object('discarded', d.id), e);

    ELSE
        RETURN chirp_err(400, 'bad_request', 'unknown command');
    END CASE;
    SELECT * INTO d FROM drafts WHERE id = d.id;
    RETURN chirp_ok(200, jsonb_build_object('draft', chirp_rec_draft(d)), e);
END $$;

-- Every Draft* event. Each one touches updated_at and last_seq (the list order).
CREATE OR REPLACE FUNCTION chirp_apply_draft(e events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := e.payload;
    did bigint := (e.payload->>'draftId')::bigint;
BEGIN
    CASE e.type
    WHEN 'DraftCreated' THEN
        INSERT INTO drafts (id, owner_id, text, version, created_at, updated_at, last_seq)
        VALUES (did, (p->>'ownerId')::bigint, p->>'text', 0, e.created_at, e.created_at, e.seq);
        RETURN;
    WHEN 'DraftUpdated' THEN
        -- The text: see the top of this file. One statement: this runs per keystroke.
        UPDATE drafts SET version = (p->>'version')::bigint, updated_at = e.created_at,
                          last_seq = e.seq
        WHERE id = did;
        RETURN;
    WHEN 'DraftCollaboratorAdded' THEN
        INSERT INTO draft_collaborators (draft_id, user_id, seq)
        VALUES (did, (p->>'userId')::bigint, e.seq) ON CONFLICT DO NOTHING;
        IF (p->>'userId')::bigint <> e.user_id THEN
            INSERT INTO notifications (recipient_id, seq, type, actor_id, tweet_id,
                                       conversation_id, created_at, draft_id)
            VALUES ((p->>'userId')::bigint, e.seq, 'draft_invite', e.user_id, NULL, NULL,
                    e.created_at, did)
            ON CONFLICT DO NOTHING;
        END IF;
    WHEN 'DraftCollaboratorRemoved' THEN
        DELETE FROM draft_collaborators WHERE draft_id = did AND user_id = (p->>'userId')::bigint;
    WHEN 'DraftPublished' THEN
        UPDATE drafts SET state = 'published', tweet_id = (p->>'tweetId')::bigint WHERE id = did;
    WHEN 'DraftDiscarded' THEN
        UPDATE drafts SET state = 'discarded' WHERE id = did;
    ELSE
        RETURN;
    END CASE;
    UPDATE drafts SET updated_at = e.created_at, last_seq = e.seq WHERE id = did;
END $$;

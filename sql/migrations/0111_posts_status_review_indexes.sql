-- status together with needs_review (cardinality(flags) > 0): page 1 of such a list read
-- in (created_at, id) order from an index holding only posts of that review state.
--
-- Why: status and flags are correlated (here, every post with flags is flagged), but the
-- planner multiplies their selectivities, so it expected `status=approved&needs_review=true`
-- to match 12 % of the posts and walked posts_status_created_at_id_idx testing flags on
-- each row until the page filled. It matches nothing: 0.33 s at 1M posts, as the admin
-- and as an owner (`status=flagged&needs_review=false` 0.17 s). With these indexes every
-- combination answers in 1-2 ms (README "Performance").
--
-- The predicates are what visible_posts() (migration 0011) becomes once the planner folds
-- `(cardinality(flags) > 0) = p_needs_review` with the parameter: `cardinality(flags) > 0`
-- for true, `cardinality(flags) <= 0` for false, so each index matches one side exactly.
-- An owner's list carries owner_id (migration 0007's rule): each side has an owner-led
-- twin. Sizes at 1M posts (85 % without flags): 7 and 10 MB with flags, 48 and 63 MB without.
CREATE INDEX posts_reviewed_status_created_at_id_idx
    ON posts (status, created_at DESC, id DESC) WHERE cardinality(flags) > 0;
CREATE INDEX posts_unreviewed_status_created_at_id_idx
    ON posts (status, created_at DESC, id DESC) WHERE cardinality(flags) <= 0;
CREATE INDEX posts_reviewed_owner_status_created_at_id_idx
    ON posts (owner_id, status, created_at DESC, id DESC) WHERE cardinality(flags) > 0;
CREATE INDEX posts_unreviewed_owner_status_created_at_id_idx
    ON posts (owner_id, status, created_at DESC, id DESC) WHERE cardinality(flags) <= 0;

package aistat

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/lib/pq"
	"github.com/mtibben/confusables"
)

// emailSkeleton is the key under which two emails that look alike are the
// same: the Unicode TR39 skeleton of the lower-cased email ("аdmin@…" with a
// Cyrillic "а" and "admin@…" have one). Emails are matched without regard to
// case, so case is folded first, as TR39 says for case-insensitive
// identifiers; Go's lower-casing is used in both places that compute it (here
// at every insert, and the backfill), so the keys always agree.
func emailSkeleton(email string) string {
	return confusables.Skeleton(strings.ToLower(email))
}

// Messages of an email that is taken.
const (
	msgEmailTaken     = "A user with this email already exists."
	msgEmailLookAlike = "An account already exists with an email that looks the same as this one (some of its letters look like others, for example Cyrillic \"а\" and Latin \"a\"). Choose a different email."
)

// emailConflicts maps the users' unique indexes to what their violation
// means; an email equal but for case breaks users_email_key, which
// PostgreSQL checks first, as the older index.
var emailConflicts = map[string]string{
	"users_email_key":          msgEmailTaken,
	"users_email_skeleton_key": msgEmailLookAlike,
	"":                         msgEmailTaken,
}

// backfillEmailSkeletons gives every user without one their email's
// skeleton, in the migrate transaction. Accounts whose emails already look
// alike cannot all have theirs under the unique index: the oldest gets it
// and the others keep NULL, so the site still starts and no new look-alike
// of any of them can be created (it would collide with the oldest).
func backfillEmailSkeletons(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, email FROM users WHERE email_skeleton IS NULL ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read emails without skeleton: %w", err)
	}
	defer rows.Close()
	var ids []int64
	var skeletons []string
	for rows.Next() {
		var id int64
		var email string
		if err := rows.Scan(&id, &email); err != nil {
			return fmt.Errorf("read emails without skeleton: %w", err)
		}
		ids, skeletons = append(ids, id), append(skeletons, emailSkeleton(email))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read emails without skeleton: %w", err)
	}
	rows.Close()
	if len(ids) == 0 {
		return nil
	}
	// One statement: the first id of each new skeleton that no account has
	// yet.
	_, err = tx.ExecContext(ctx, `
		UPDATE users u SET email_skeleton = v.skeleton
		FROM (
			SELECT DISTINCT ON (skeleton) id, skeleton
			FROM unnest($1::bigint[], $2::text[]) AS n(id, skeleton)
			WHERE NOT EXISTS (SELECT 1 FROM users WHERE email_skeleton = n.skeleton)
			ORDER BY skeleton, id
		) v
		WHERE u.id = v.id`, pq.Array(ids), pq.Array(skeletons))
	if err != nil {
		return fmt.Errorf("backfill email skeletons: %w", err)
	}
	return nil
}

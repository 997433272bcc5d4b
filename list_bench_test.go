package aistat

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"aistat/internal/pgtest"
)

// BenchmarkUsers_List measures the admin page's query on 100,000 users and
// 1,000,000 sessions (nine in ten expired): it logs EXPLAIN (ANALYZE,
// BUFFERS) of each case, then times List. Loading takes a minute, so it
// runs only when asked for:
//
//	go test -run '^$' -bench 'BenchmarkUsers_List' -benchtime 200x .
func BenchmarkUsers_List(b *testing.B) {
	ctx := context.Background()
	db := pgtest.DB(b, pgtest.URL(b))
	if err := Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, stmt := range []string{
		// Names from ten first and ten last names, Latin and Cyrillic, so
		// that each name search matches a tenth or a hundredth of everyone.
		`INSERT INTO users (email, name, role, password_hash)
		 SELECT format('user%s@example.com', i),
		        (ARRAY['Anna','Boris','Chen','Dmitri','Elena','Фёдор','Галина','Игорь','Ксения','Людмила'])[1 + i % 10] || ' ' ||
		        (ARRAY['Smith','Ivanova','Garcia','Müller','Петров','Сидорова','Kowalski','Tanaka','Orlov','Кузнецова'])[1 + (i / 10) % 10],
		        (ARRAY['admin','editor','viewer','viewer'])[1 + i % 4], '-'
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO sessions (token, data, expiry, user_id, created_at, last_active)
		 SELECT md5(i::text), '\x00'::bytea,
		        CASE WHEN i % 10 = 0 THEN now() + interval '1 day' ELSE now() - interval '1 day' END,
		        1 + i % 100000, now() - interval '2 days', now() - (i % 1440) * interval '1 minute'
		 FROM generate_series(1, 1000000) i`,
		`ANALYZE users`,
		`ANALYZE sessions`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded 100,000 users and 1,000,000 sessions in %s", time.Since(start).Round(time.Millisecond))

	users := NewUsers(db)
	cases := []struct {
		name string
		q    UserQuery
	}{
		{"FirstPage", UserQuery{}},
		{"LaterPage", UserQuery{Cursor: Cursor{After: 60000}}},
		{"PreviousPage", UserQuery{Cursor: Cursor{Before: 60051}}},
		{"SearchRareEmail", UserQuery{Search: "user4242"}},
		{"SearchCommonName", UserQuery{Search: "anna"}},
		{"SearchCommonNameLaterPage", UserQuery{Search: "anna", Cursor: Cursor{After: 50000}}},
		{"SearchCyrillicName", UserQuery{Search: "ксения кузнецова"}},
		{"SearchNoMatch", UserQuery{Search: "nobody-at-all"}},
		{"SearchShortNoMatch", UserQuery{Search: "zq"}},
	}
	for _, c := range cases {
		// The admin's view, the one that counts sessions.
		c.q.View = AdminView
		search, err := NormalizeSearch(c.q.Search)
		if err != nil {
			b.Fatal(err)
		}
		query, args := listQuery(search, c.q.Cursor, DefaultPageSize+1)
		plan, err := explain(ctx, db, query, args)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s (q=%q, cursor %+v):\n%s", c.name, c.q.Search, c.q.Cursor, plan)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := users.List(ctx, c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// explain runs EXPLAIN (ANALYZE, BUFFERS) of query with args.
func explain(ctx context.Context, db *sql.DB, query string, args []any) (string, error) {
	rows, err := db.QueryContext(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		out.WriteString(line + "\n")
	}
	return out.String(), rows.Err()
}

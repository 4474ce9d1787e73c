package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL engine's database, seeded directly
	vegeta "github.com/tsenart/vegeta/v12/lib"
	_ "modernc.org/sqlite" // the SQLite engine's
)

// seedUsers puts n users straight into the engine's database (before
// serve starts; the CLI has migrated it): user<i>@bench.example with the
// external ID crm-<i>, for the lookup measurements. Written in one
// statement, as a bulk import would, without events: they are not what is
// measured.
func (h *harness) seedUsers(ctx context.Context, dir, dbURL string, n int) error {
	start := time.Now()
	now := time.Now().UnixMicro()
	var db *sql.DB
	var err error
	var q string
	if dbURL == "" {
		db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "portvakt.db")+"?_pragma=busy_timeout(10000)")
		q = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
			INSERT INTO users (id, email, email_normalized, email_verified, given_name, family_name, status, external_id, created_at, updated_at)
			SELECT printf('bench-%08d', i), printf('user%d@bench.example', i), printf('user%d@bench.example', i), TRUE, 'Bench', 'User',
				'active', printf('crm-%d', i), $2, $2 FROM n`
	} else {
		db, err = sql.Open("pgx", dbURL)
		q = `INSERT INTO users (id, email, email_normalized, email_verified, given_name, family_name, status, external_id, created_at, updated_at)
			SELECT format('bench-%s', lpad(i::text, 8, '0')), format('user%s@bench.example', i), format('user%s@bench.example', i), TRUE, 'Bench', 'User',
				'active', format('crm-%s', i), $2, $2 FROM generate_series(1, $1::int) AS i`
	}
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, q, n, now); err != nil {
		return fmt.Errorf("seed %d users: %w", n, err)
	}
	if dbURL != "" {
		if _, err := db.ExecContext(ctx, `ANALYZE users`); err != nil {
			return err
		}
	}
	h.logf("seeded %s users in %s", thousands(n), time.Since(start).Round(time.Millisecond))
	return nil
}

// lookups measures GET /api/v1/users by email and by external ID at a
// fixed rate, each request for a random one of the n seeded users.
func (h *harness) lookups(ctx context.Context, res *engineResult, pv *proc, issuer, token string, n int) error {
	for _, l := range []struct {
		what, param, format string
	}{
		{"email", "email", "user%d@bench.example"},
		{"external ID", "external_id", "crm-%d"},
	} {
		targeter := func(t *vegeta.Target) error {
			i := rand.IntN(n) + 1
			t.Method = "GET"
			t.URL = issuer + "/api/v1/users?" + url.Values{l.param: {fmt.Sprintf(l.format, i)}}.Encode()
			t.Header = http.Header{"Authorization": {"Bearer " + token}}
			return nil
		}
		what := fmt.Sprintf("user lookup by %s (GET /api/v1/users?%s=…, %s users)", l.what, l.param, thousands(n))
		h.logf("%s at %d req/s for %s", what, h.rate, h.rateDur)
		f, err := h.fixedRateWith(ctx, pv, issuer, targeter, `"items":[{`)
		if err != nil {
			return err
		}
		h.logf("  %s", f)
		res.Rows = append(res.Rows, row{
			What: fmt.Sprintf("%s at a fixed %s req/s (open loop)", what, thousands(h.rate)), Got: f, Ratio: math.NaN(), OpenLoop: true,
			Target: "p99 < 5 ms", Met: failedOr(f, yesNo(f.P99 < 5*time.Millisecond && f.RPS >= 0.95*float64(h.rate))),
		})
	}
	return nil
}

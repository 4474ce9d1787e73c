package storetest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// Tables lists the tables of the database at rawURL from its catalog, so
// that a check over every table covers tables added later too.
func Tables(t testing.TB, e Engine, rawURL string) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`
	if e.Name == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := e.RawDB(t, rawURL).QueryContext(t.Context(), q)
	must(t, err, "list tables")
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		must(t, rows.Scan(&name), "list tables")
		out = append(out, name)
	}
	must(t, rows.Err(), "list tables")
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatal("the catalog lists no tables")
	}
	return out
}

// FindInTables reads every column of every row of every table of the
// database at rawURL and returns where any of needles occurs, in any case,
// as "table.column: value" (binary values as text too).
func FindInTables(t testing.TB, e Engine, rawURL string, needles ...string) []string {
	t.Helper()
	var lower []string
	for _, n := range needles {
		if n = strings.ToLower(n); n != "" {
			lower = append(lower, n)
		}
	}
	db := e.RawDB(t, rawURL)
	var hits []string
	for _, table := range Tables(t, e, rawURL) {
		rows, err := db.QueryContext(t.Context(), `SELECT * FROM "`+table+`"`)
		must(t, err, "read %s", table)
		cols, err := rows.Columns()
		must(t, err, "columns of %s", table)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rows.Scan(ptrs...), "read %s", table)
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case nil:
					continue
				case []byte:
					s = string(x)
				default:
					s = fmt.Sprint(x)
				}
				low := strings.ToLower(s)
				for _, n := range lower {
					if strings.Contains(low, n) {
						hits = append(hits, fmt.Sprintf("%s.%s: %.200s", table, cols[i], s))
						break
					}
				}
			}
		}
		must(t, rows.Err(), "read %s", table)
		_ = rows.Close()
	}
	return hits
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portvakt/portvakt/internal/storetest"
)

// TestKillNineLosesNoAcknowledgedWrite kills "portvakt import users" with
// SIGKILL while it is importing a stream of users, then lists the users with
// a fresh process: every user whose import was acknowledged on standard
// output must be there. Three rounds on the same database, so that later
// rounds also start on a database left by a killed process.
func TestKillNineLosesNoAcknowledgedWrite(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, e storetest.Engine) {
		dir := t.TempDir()
		env := childEnv(t)
		if e.Name == "postgres" {
			env = append(env, "PORTVAKT_DATABASE_URL="+e.NewURL(t))
		}
		acked := map[string]string{} // user ID → email
		for round := 1; round <= 3; round++ {
			killAfter := 150 + rand.IntN(251)
			got := importUntilKilled(t, dir, env, round, killAfter)
			for id, email := range got {
				if prev, dup := acked[id]; dup {
					t.Errorf("round %d: ID %s acknowledged for %s and, earlier, for %s", round, id, email, prev)
				}
				acked[id] = email
			}
			listed := listUsers(t, dir, env)
			missing := 0
			for id, email := range acked {
				if got, ok := listed[id]; !ok {
					missing++
					if missing <= 10 {
						t.Errorf("round %d: acknowledged user %s (%s) is missing after the crash", round, id, email)
					}
				} else if got != email {
					t.Errorf("round %d: user %s has email %q, want the acknowledged %q", round, id, got, email)
				}
			}
			if missing > 0 {
				t.Fatalf("round %d: %d of %d acknowledged users are missing after the crash", round, missing, len(acked))
			}
			t.Logf("round %d: killed after %d acknowledgements (asked for %d); %d users acknowledged so far, %d listed",
				round, len(got), killAfter, len(acked), len(listed))
			if e.Name == "sqlite" {
				checkSQLiteIntegrity(t, filepath.Join(dir, "portvakt-data", "portvakt.db"))
			}
		}
	})
}

// importUntilKilled runs "portvakt import users" fed with an endless stream
// of new users, sends SIGKILL once killAfter imports are acknowledged (while
// more lines are being written), and returns every acknowledged user: ID →
// email.
func importUntilKilled(t *testing.T, dir string, env []string, round, killAfter int) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "import", "users")
	cmd.Dir, cmd.Env = dir, env
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start portvakt import users: %v", err)
	}
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	email := func(line int) string { return fmt.Sprintf("crash-r%d-u%d@example.com", round, line) }
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		defer stdin.Close()
		// Until the process dies (the write fails) or the test gives up;
		// far more lines than the importer gets through.
		for line := 1; line <= 1_000_000 && ctx.Err() == nil; line++ {
			rec := fmt.Sprintf(`{"email":%q,"given_name":"Round %d","external_id":"crash-%d-%d"}`+"\n", email(line), round, round, line)
			if _, err := io.WriteString(stdin, rec); err != nil {
				return
			}
		}
	}()

	acked := map[string]string{}
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		var ack struct {
			Line  int    `json:"line"`
			ID    string `json:"id"`
			Email string `json:"email"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ack); err != nil {
			t.Fatalf("round %d: acknowledgement %q is not JSON: %v", round, sc.Text(), err)
		}
		if ack.ID == "" || ack.Email != email(ack.Line) {
			t.Fatalf("round %d: acknowledgement %q does not match line %d (%s)", round, sc.Text(), ack.Line, email(ack.Line))
		}
		// Every line read is acknowledged, also those the process printed
		// just before the kill reached it.
		acked[ack.ID] = ack.Email
		if len(acked) == killAfter && !killed {
			select {
			case <-writing:
				t.Fatalf("round %d: the writer stopped before the kill; stderr:\n%s", round, stderr.String())
			default:
			}
			// A moment later, so that the kill lands anywhere in the
			// next line's transaction.
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("send SIGKILL: %v", err)
			}
			killed = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("round %d: read acknowledgements: %v", round, err)
	}
	err = cmd.Wait()
	exited = true
	<-writing
	if ctx.Err() != nil {
		t.Fatalf("round %d: import did not end within 60s; stderr:\n%s", round, stderr.String())
	}
	if !killed {
		t.Fatalf("round %d: import exited (%v) after %d acknowledgements, before the kill; stderr:\n%s", round, err, len(acked), stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("round %d: import ended with %v, want killed by SIGKILL", round, cmd.ProcessState)
	}
	for _, l := range nonBlankLines(stderr.String()) {
		if !isJSONObject(l) {
			t.Errorf("round %d: import reported a problem: %s", round, l)
		}
	}
	return acked
}

// listUsers runs "portvakt user list" and returns ID → email.
func listUsers(t *testing.T, dir string, env []string) map[string]string {
	t.Helper()
	r := mustRun(t, dir, env, "user", "list")
	users := map[string]string{}
	for _, l := range nonBlankLines(r.stdout) {
		var u struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		}
		if err := json.Unmarshal([]byte(l), &u); err != nil {
			t.Fatalf("user list printed %q: %v", l, err)
		}
		if _, dup := users[u.ID]; dup {
			t.Errorf("user list printed %s twice", u.ID)
		}
		users[u.ID] = u.Email
	}
	return users
}

// checkSQLiteIntegrity runs PRAGMA integrity_check on the database file.
func checkSQLiteIntegrity(t *testing.T, path string) {
	t.Helper()
	db := openRawDB(t, "sqlite://"+path)
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("PRAGMA integrity_check: %v", err)
	}
	defer rows.Close()
	var report []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		report = append(report, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(report, "; "); got != "ok" {
		t.Errorf("PRAGMA integrity_check: got %q, want ok", got)
	}
}

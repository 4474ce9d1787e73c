package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// figure is one measurement of one server: throughput and latency as the
// load generator saw them, CPU time and memory as /proc saw the server.
type figure struct {
	RPS      float64
	P50, P99 time.Duration
	Requests int64
	// Failed counts socket errors, timeouts and answers that were not the
	// expected 200; Exhausted counts requests made after the pre-made codes
	// or tokens ran out.
	Failed, Exhausted int64
	Wall              time.Duration
	CPU               time.Duration
	RSSKiB            int64
	// Idle is the share of the machine's CPU time that nothing used
	// (load generator included): near 0 means the run was CPU-bound.
	Idle float64
	// DB is the CPU time of the database server under test (PostgreSQL;
	// SQLite runs inside Portvakt).
	DB time.Duration
	// DBPartial: DB lacks the time of connections closed during the run
	// (another database's backends were about; see loadBetween).
	DBPartial bool
	// Other is the CPU time other processes on the machine used meanwhile
	// (another job's tests, say): the measurement competed with them.
	Other time.Duration
	// Sessions is how many PostgreSQL connections were opened meanwhile.
	Sessions int64
}

func (f figure) dbPerReq() time.Duration {
	if f.Requests == 0 {
		return 0
	}
	return f.DB / time.Duration(f.Requests)
}

// otherCores is how many cores other processes kept busy on average.
func (f figure) otherCores() float64 {
	if f.Wall <= 0 {
		return 0
	}
	return f.Other.Seconds() / f.Wall.Seconds()
}

func (f figure) cpuPerReq() time.Duration {
	if f.Requests == 0 {
		return 0
	}
	return f.CPU / time.Duration(f.Requests)
}

// cores is how many cores the server kept busy on average.
func (f figure) cores() float64 {
	if f.Wall <= 0 {
		return 0
	}
	return f.CPU.Seconds() / f.Wall.Seconds()
}

func (f figure) String() string {
	s := fmt.Sprintf("%.0f req/s, p50 %s ms, p99 %s ms, %d requests, CPU %s/req (%.2f cores), RSS %.0f MiB, machine idle %.0f%%, database %s/req, other processes %.2f cores",
		f.RPS, ms(f.P50), ms(f.P99), f.Requests, us(f.cpuPerReq()), f.cores(), mib(f.RSSKiB), 100*f.Idle, us(f.dbPerReq()), f.otherCores())
	if f.Failed > 0 {
		s += fmt.Sprintf(", %d FAILED", f.Failed)
	}
	if f.Exhausted > 0 {
		s += fmt.Sprintf(", %d after the codes ran out", f.Exhausted)
	}
	return s
}

// wrkReport is the line report.lua prints.
type wrkReport struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Connect    int64 `json:"connect"`
	Read       int64 `json:"read"`
	Write      int64 `json:"write"`
	Status     int64 `json:"status"`
	Timeout    int64 `json:"timeout"`
	Bad        int64 `json:"bad"`
	Exhausted  int64 `json:"exhausted"`
	P50US      int64 `json:"p50_us"`
	P99US      int64 `json:"p99_us"`
}

// wrk runs one wrk load against target (always on loopback) with a script
// from bench/wrk and its arguments, and measures server p meanwhile.
func (h *harness) wrk(ctx context.Context, p *proc, script, target string, args ...string) (figure, error) {
	if err := loopbackOnly(target); err != nil {
		return figure{}, err
	}
	cmdArgs := []string{
		"-t", strconv.Itoa(h.threads), "-c", strconv.Itoa(h.conns), "-d", fmt.Sprintf("%ds", int(h.dur.Seconds())),
		"--timeout", "5s", "--latency", "-s", filepath.Join(h.wrkDir, script), target, "--",
	}
	cmdArgs = append(cmdArgs, args...)
	h.settle(ctx)
	ctx, cancel := context.WithTimeout(ctx, h.dur+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.wrkBin, cmdArgs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before, err := readUsage(p.pid())
	if err != nil {
		return figure{}, err
	}
	s0, m0, t0 := h.pgSessions(ctx), readMachineCPU(), readProcTimes(h.dbName, h.pgPID)
	if err := cmd.Run(); err != nil {
		return figure{}, fmt.Errorf("wrk %s: %v\n%s%s", script, err, stdout.String(), stderr.String())
	}
	m1, t1 := readMachineCPU(), readProcTimes(h.dbName, h.pgPID)
	after, err := readUsage(p.pid())
	if err != nil {
		return figure{}, err
	}
	sessions := h.pgSessions(ctx) - s0
	var rep wrkReport
	found := false
	for _, line := range strings.Split(stdout.String(), "\n") {
		if j, ok := strings.CutPrefix(line, "BENCHJSON "); ok {
			if err := json.Unmarshal([]byte(j), &rep); err != nil {
				return figure{}, fmt.Errorf("wrk %s: %v in %q", script, err, j)
			}
			found = true
		}
	}
	if !found || rep.DurationUS <= 0 {
		return figure{}, fmt.Errorf("wrk %s printed no report:\n%s%s", script, stdout.String(), stderr.String())
	}
	if h.verbose {
		h.logf("%s", strings.TrimSpace(stdout.String()))
		h.logf("server CPU: /proc stat %s, schedstat %s", after.cpu-before.cpu, after.sched-before.sched)
	}
	fig := figure{
		RPS:       float64(rep.Requests) / (float64(rep.DurationUS) / 1e6),
		P50:       time.Duration(rep.P50US) * time.Microsecond,
		P99:       time.Duration(rep.P99US) * time.Microsecond,
		Requests:  rep.Requests,
		Failed:    rep.Connect + rep.Read + rep.Write + rep.Timeout + max(rep.Status, rep.Bad),
		Exhausted: rep.Exhausted,
		Wall:      after.at.Sub(before.at),
		CPU:       after.cpu - before.cpu,
		RSSKiB:    after.rssKiB,
		Idle:      idleShare(m0, m1),
		Sessions:  sessions,
	}
	fig.DB, fig.Other, fig.DBPartial = loadBetween(t0, t1, p.pid(), os.Getpid())
	return fig, nil
}

// fixedRate sends rate requests a second for the rate duration (open
// loop: a slow answer does not delay the next request) and reports the
// latency percentiles of every request, exactly.
func (h *harness) fixedRate(ctx context.Context, p *proc, t vegeta.Target, expect string) (figure, error) {
	return h.fixedRateWith(ctx, p, t.URL, vegeta.NewStaticTargeter(t), expect)
}

// fixedRateWith is fixedRate with the requests tr makes, all to the host
// of target.
func (h *harness) fixedRateWith(ctx context.Context, p *proc, target string, tr vegeta.Targeter, expect string) (figure, error) {
	if err := loopbackOnly(target); err != nil {
		return figure{}, err
	}
	atk := vegeta.NewAttacker(vegeta.Timeout(5*time.Second), vegeta.KeepAlive(true), vegeta.Workers(16),
		vegeta.MaxWorkers(1024), vegeta.Connections(1024), vegeta.MaxBody(64<<10))
	defer atk.Stop()
	h.settle(ctx)
	before, err := readUsage(p.pid())
	if err != nil {
		return figure{}, err
	}
	var lat []time.Duration
	var failed int64
	s0, m0, t0 := h.pgSessions(ctx), readMachineCPU(), readProcTimes(h.dbName, h.pgPID)
	res := atk.Attack(tr, vegeta.Rate{Freq: h.rate, Per: time.Second}, h.rateDur, "bench")
	var first, last time.Time
	for r := range res {
		if ctx.Err() != nil {
			atk.Stop()
		}
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
		lat = append(lat, r.Latency)
		if r.Code != 200 || r.Error != "" || !bytes.Contains(r.Body, []byte(expect)) {
			failed++
		}
	}
	m1, t1 := readMachineCPU(), readProcTimes(h.dbName, h.pgPID)
	sessions := h.pgSessions(ctx) - s0
	after, err := readUsage(p.pid())
	if err != nil {
		return figure{}, err
	}
	if err := ctx.Err(); err != nil {
		return figure{}, err
	}
	if len(lat) < 2 {
		return figure{}, fmt.Errorf("fixed-rate load sent %d requests", len(lat))
	}
	sortDurations(lat)
	sent := last.Sub(first).Seconds()
	fig := figure{
		RPS:      float64(len(lat)-1) / sent,
		P50:      percentile(lat, 50),
		P99:      percentile(lat, 99),
		Requests: int64(len(lat)),
		Failed:   failed,
		Wall:     after.at.Sub(before.at),
		CPU:      after.cpu - before.cpu,
		RSSKiB:   after.rssKiB,
		Idle:     idleShare(m0, m1),
		Sessions: sessions,
	}
	fig.DB, fig.Other, fig.DBPartial = loadBetween(t0, t1, p.pid(), os.Getpid())
	return fig, nil
}

// loopbackOnly refuses any target but 127.0.0.1.
func loopbackOnly(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	if u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("refusing to load %s: only 127.0.0.1 is a target", target)
	}
	return nil
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a server the harness started: Portvakt or the bare bound.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    lockedBuffer
	done   chan struct{}
	waitMu sync.Mutex
	err    error
}

func startProc(ctx context.Context, name, dir string, env []string, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	// Killed with its context, e.g. on Ctrl-C; stopped gently by stop.
	p.cmd.Cancel = func() error { return p.cmd.Process.Kill() }
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.waitMu.Lock()
		p.err = err
		p.waitMu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to ten seconds, then kills.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitHTTP polls url until it answers 200 (with any method's answer
// accepted when anyStatus), the process exits or the timeout passes.
func (p *proc) waitHTTP(ctx context.Context, url string, anyStatus bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.out.tail(30))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK || anyStatus {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %s (last: %v):\n%s", p.name, url, timeout, err, p.out.tail(30))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// usage is a process's CPU time and memory at one moment.
type usage struct {
	at     time.Time
	cpu    time.Duration // user + system, /proc/PID/stat
	sched  time.Duration // the same from the scheduler's exact count
	rssKiB int64
	hwmKiB int64
}

var clockTicks = func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}()

// runtimeOf is the time the scheduler ran a process's threads, from
// /proc/PID/task/*/schedstat: nanoseconds, exact, unlike the clock ticks of
// /proc/PID/stat, which sample short bursts (a database backend's) badly.
// Threads that have ended are not counted; Go and PostgreSQL keep theirs.
func runtimeOf(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		total += n
	}
	return time.Duration(total), nil
}

// readUsage reads a process's CPU time (utime and stime of /proc/PID/stat,
// and the scheduler's count) and its memory (VmRSS and VmHWM of
// /proc/PID/status).
func readUsage(pid int) (usage, error) {
	u := usage{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 13 {
		return u, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, stat)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	u.cpu = time.Duration(ut+st) * time.Second / time.Duration(clockTicks)
	if u.sched, err = runtimeOf(pid); err != nil {
		return u, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			u.rssKiB = n
		case "VmHWM":
			u.hwmKiB = n
		}
	}
	return u, nil
}

// machineCPU is the "cpu" line of /proc/stat: time all cores spent busy
// and idle (iowait counts as idle: nothing ran), in clock ticks.
type machineCPU struct{ busy, idle int64 }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}
	}
	var m machineCPU
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 {
			m.idle += n
		} else {
			m.busy += n
		}
	}
	return m
}

// idleShare is the share of all cores' time that was idle between a and b.
func idleShare(a, b machineCPU) float64 {
	busy, idle := b.busy-a.busy, b.idle-a.idle
	if busy+idle <= 0 {
		return 0
	}
	return float64(idle) / float64(busy+idle)
}

// procTimes maps each process to its CPU time so far and whether it is
// part of the database under test.
type procTimes map[int]procTime

type procTime struct {
	cpu time.Duration
	db  bool
	// foreign marks a backend serving another database: the postmaster's
	// reaped-children time then mixes in other users' connections.
	foreign bool
}

// reapedKey holds the postmaster's reaped-children time in a procTimes.
const reapedKey = -1

// readProcTimes reads every process's CPU time. A PostgreSQL process
// counts as the database under test when it serves dbName or is one of
// the server's own workers (WAL writer, checkpointer, …), whose work the
// load causes; backends of other databases are other load.
// The backend with PID skip (the driver's own statistics connection) is
// left out.
func readProcTimes(dbName string, skip int) procTimes {
	out := procTimes{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || (skip != 0 && pid == skip) {
			continue
		}
		cpu, err := runtimeOf(pid)
		if err != nil {
			continue
		}
		pt := procTime{cpu: cpu}
		if dbName != "" {
			if comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(comm)) == "postgres" {
				cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
				c := string(cl)
				client := strings.Contains(c, "(") || strings.Contains(c, "[local]")
				pt.db = strings.Contains(c, " "+dbName+" ") || !client
				pt.foreign = client && !pt.db
				// The postmaster (its command line is its binary's path)
				// is charged with the CPU time of the backends it reaped:
				// connections that closed during the run.
				if strings.HasPrefix(c, "/") {
					if reaped, err := childTimes(pid); err == nil {
						out[reapedKey] = procTime{cpu: reaped, db: true}
					}
				}
			}
		}
		out[pid] = pt
	}
	return out
}

// childTimes is the CPU time of a process's ended and reaped children
// (cutime and cstime of /proc/PID/stat).
func childTimes(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 15 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	return time.Duration(cu+cs) * time.Second / time.Duration(clockTicks), nil
}

// loadBetween is the CPU time that the database under test and all other
// processes but the excluded ones (the server under test and this driver;
// wrk is a child that has exited by the second reading) used between two
// readings. Processes that ended in between are not seen, except
// PostgreSQL backends, through the postmaster, as long as no backend of
// another database was seen (partial then says the database's time lacks
// its closed connections).
func loadBetween(a, b procTimes, exclude ...int) (db, other time.Duration, partial bool) {
	for _, m := range []procTimes{a, b} {
		for _, t := range m {
			partial = partial || t.foreign
		}
	}
	for pid, t := range b {
		if slices.Contains(exclude, pid) || (pid == reapedKey && partial) {
			continue
		}
		d := t.cpu - a[pid].cpu
		if t.db {
			db += d
		} else {
			other += d
		}
	}
	return db, other, partial
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

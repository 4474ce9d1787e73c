package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// markdown renders the results: the setting, then a table per engine with
// each Portvakt figure beside its bound, then the notes.
func (h *harness) markdown(results []engineResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. %s, wrk %s (`-t%d -c%d -d%ds --latency`), fixed-rate runs %s at %s req/s (open loop, vegeta). Load generator and servers share the machine.\n",
		machine(), runtime.Version(), wrkVersion(h.wrkBin), h.threads, h.conns, int(h.dur.Seconds()), h.rateDur, thousands(h.rate))
	for _, r := range results {
		fmt.Fprintf(&b, "\n#### %s\n\n", r.Engine)
		b.WriteString("| measurement | req/s | p50 ms | p99 ms | CPU µs/req (cores) | RSS MiB | bound | bound req/s | bound p50 ms | bound p99 ms | bound CPU µs/req (cores) | bound RSS MiB | ratio | target | met |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|---|---|\n")
		for _, x := range r.Rows {
			g := x.Got
			cells := []string{x.What, fmt.Sprintf("%.0f", g.RPS), ms(g.P50), ms(g.P99), cpuCell(g), fmt.Sprintf("%.0f", mib(g.RSSKiB))}
			switch {
			case x.Bound != nil:
				bd := *x.Bound
				cells = append(cells, x.BoundName, fmt.Sprintf("%.0f", bd.RPS), ms(bd.P50), ms(bd.P99), cpuCell(bd), fmt.Sprintf("%.0f", mib(bd.RSSKiB)))
			case x.BoundRate > 0:
				cells = append(cells, x.BoundName, fmt.Sprintf("%.0f", x.BoundRate), "—", "—", "—", "—")
			default:
				cells = append(cells, "—", "—", "—", "—", "—", "—")
			}
			ratio := "—"
			if !math.IsNaN(x.Ratio) && x.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f", x.Ratio)
			}
			cells = append(cells, ratio, x.Target, x.Met)
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		}
		if len(r.Notes) > 0 {
			b.WriteString("\n")
			for _, n := range r.Notes {
				b.WriteString("- " + n + "\n")
			}
		}
	}
	return b.String()
}

func cpuCell(f figure) string {
	if f.Requests == 0 {
		return "—"
	}
	c := fmt.Sprintf("%.0f (%.2f)", float64(f.cpuPerReq())/float64(time.Microsecond), f.cores())
	if f.dbPerReq() >= time.Microsecond {
		ge := ""
		if f.DBPartial {
			ge = "≥ "
		}
		c += fmt.Sprintf(" + PG %s%.0f", ge, float64(f.dbPerReq())/float64(time.Microsecond))
	}
	return c
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }

func mib(kib int64) float64 { return float64(kib) / 1024 }

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// machine describes the CPU, cores and kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d cores (%s)%s", runtime.NumCPU(), model, kernel)
}

func wrkVersion(bin string) string {
	// wrk -v prints its version and exits non-zero.
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	f := strings.Fields(string(out))
	if len(f) >= 2 && f[0] == "wrk" {
		return f[1]
	}
	return "?"
}

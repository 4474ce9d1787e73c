// Command load is Portvakt's end-to-end load harness. It builds portvakt
// and the bare bound (bench/bare), starts portvakt on a fresh SQLite data
// directory (and, when PORTVAKT_TEST_POSTGRES_URL is set, on a fresh
// PostgreSQL database), registers clients and a user with the CLI, signs in
// through the hosted pages, and loads the protocol endpoints with wrk
// (scripts in bench/wrk) and, for the fixed-rate latency target, an
// open-loop Go load (vegeta). Every figure is printed beside its bound,
// measured in the same run: the bare client_credentials endpoint, and the
// raw RS256 signing rate of all cores. Only 127.0.0.1 is ever loaded.
//
//	go run ./bench/cmd/load            # or: make bench-load
//	go run ./bench/cmd/load -d 10s -out results.md
//
// It prints a Markdown table per engine at the end.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// harness holds the settings and the built binaries.
type harness struct {
	root, tmp, wrkDir       string
	portvakt, bare, wrkBin  string
	threads, conns          int
	dur, rateDur, boundDur  time.Duration
	rate                    int
	users                   int
	codeWorkers             int
	quietWait               time.Duration
	verbose, opaqueExchange bool
	// dbName is the PostgreSQL database of the engine being measured, and
	// pg a connection to its server for statistics.
	dbName string
	pg     *pgx.Conn
	pgPID  int
	only   map[string]bool
	start  time.Time
}

// scenarios are the groups of measurements -only can pick.
var scenarios = []string{"cc", "reads", "rate", "lookup", "exchange", "refresh"}

func (h *harness) want(s string) bool { return len(h.only) == 0 || h.only[s] }

func main() { os.Exit(run()) }

func run() int {
	h := &harness{start: time.Now()}
	var (
		engines = flag.String("engines", "", "comma-separated: sqlite, postgres (default: sqlite, and postgres when PORTVAKT_TEST_POSTGRES_URL is set)")
		out     = flag.String("out", "", "also write the Markdown results to this file")
		keep    = flag.Bool("keep", false, "keep the temporary directory (data, codes, logs)")
		timeout = flag.Duration("timeout", 9*time.Minute, "stop everything after this long")
		only    = flag.String("only", "", "comma-separated subset of: "+strings.Join(scenarios, ", ")+" (default: all)")
	)
	flag.IntVar(&h.threads, "t", 2, "wrk threads")
	flag.IntVar(&h.conns, "c", 32, "wrk connections")
	flag.DurationVar(&h.dur, "d", 6*time.Second, "duration of each wrk run (whole seconds)")
	flag.IntVar(&h.rate, "rate", 1000, "requests per second of the fixed-rate latency runs")
	flag.IntVar(&h.users, "users", 1_000_000, "users in the store for the lookup measurements")
	flag.DurationVar(&h.rateDur, "rate-d", 6*time.Second, "duration of each fixed-rate run")
	flag.DurationVar(&h.boundDur, "bound-d", 2*time.Second, "duration of each RS256 signing-rate measurement")
	flag.IntVar(&h.codeWorkers, "code-workers", 8, "concurrent authorization requests when making codes")
	flag.BoolVar(&h.opaqueExchange, "opaque", true, "also measure the code exchange of a client with opaque access tokens")
	flag.DurationVar(&h.quietWait, "quiet-wait", 0, "before each measurement, wait up to this long for other processes to leave the cores alone (for a shared machine)")
	flag.BoolVar(&h.verbose, "v", false, "print wrk's own output")
	flag.Parse()
	if h.dur < time.Second || h.dur > 60*time.Second || h.rateDur < time.Second || h.rateDur > 60*time.Second {
		fatalf("-d and -rate-d must be between 1s and 60s")
	}
	if *only != "" {
		h.only = map[string]bool{}
		for _, o := range strings.Split(*only, ",") {
			if o = strings.TrimSpace(o); !slices.Contains(scenarios, o) {
				fatalf("-only: unknown %q; choose from %s", o, strings.Join(scenarios, ", "))
			}
			h.only[o] = true
		}
	}
	if h.threads < 1 || h.conns < h.threads || h.rate < 1 {
		fatalf("-t, -c and -rate must be positive, with at least one connection per thread")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	pgURL := os.Getenv("PORTVAKT_TEST_POSTGRES_URL")
	list := []string{"sqlite"}
	if pgURL != "" {
		list = append(list, "postgres")
	}
	if *engines != "" {
		list = strings.Split(*engines, ",")
	}

	var err error
	if h.root, err = moduleRoot(); err != nil {
		fatalf("%v", err)
	}
	h.wrkDir = filepath.Join(h.root, "bench", "wrk")
	if h.wrkBin, err = exec.LookPath("wrk"); err != nil {
		fatalf("wrk is not installed (Debian: apt-get install wrk)")
	}
	if h.tmp, err = os.MkdirTemp("", "portvakt-bench-"); err != nil {
		fatalf("%v", err)
	}
	failed := false
	defer func() {
		if *keep || failed {
			h.logf("left %s (data directories, codes, tokens)", h.tmp)
			return
		}
		os.RemoveAll(h.tmp)
	}()
	if err := h.build(ctx); err != nil {
		h.logf("%v", err)
		failed = true
		return 1
	}

	var results []engineResult
	for _, e := range list {
		e = strings.TrimSpace(e)
		var res engineResult
		var err error
		switch e {
		case "sqlite":
			res, err = h.runEngine(ctx, "SQLite", "")
		case "postgres":
			if pgURL == "" {
				err = errors.New("set PORTVAKT_TEST_POSTGRES_URL to a server the harness may create a database on")
				break
			}
			res, err = h.runPostgres(ctx, pgURL)
		default:
			err = fmt.Errorf("unknown engine %q (sqlite or postgres)", e)
		}
		if err != nil {
			h.logf("%s: %v", e, err)
			failed = true
			break
		}
		results = append(results, res)
	}

	md := h.markdown(results)
	fmt.Println()
	fmt.Print(md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			h.logf("%v", err)
			failed = true
		}
	}
	h.logf("done in %s", time.Since(h.start).Round(time.Second))
	if failed {
		return 1
	}
	return 0
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/load: "+format+"\n", args...)
	os.Exit(1)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(h.start).Seconds(), fmt.Sprintf(format, args...))
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the portvakt module")
	}
	return filepath.Dir(mod), nil
}

func (h *harness) build(ctx context.Context) error {
	h.portvakt = filepath.Join(h.tmp, "portvakt")
	h.bare = filepath.Join(h.tmp, "bare")
	for _, b := range [][2]string{{h.portvakt, "./cmd/portvakt"}, {h.bare, "./bench/bare"}} {
		h.logf("go build %s", b[1])
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir = h.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	return nil
}

// runPostgres creates a fresh database for the run and drops it after.
func (h *harness) runPostgres(ctx context.Context, admin string) (engineResult, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return engineResult{}, fmt.Errorf("PORTVAKT_TEST_POSTGRES_URL: %w", err)
	}
	if host := u.Hostname(); host != "localhost" && !strings.HasPrefix(host, "/") {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return engineResult{}, fmt.Errorf("PORTVAKT_TEST_POSTGRES_URL: %s is not on this machine; the harness loads only loopback", host)
		}
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return engineResult{}, fmt.Errorf("connect to PORTVAKT_TEST_POSTGRES_URL: %w", err)
	}
	defer conn.Close(context.Background())
	var version string
	_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&version)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := "portvakt_bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return engineResult{}, fmt.Errorf("create database: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(dctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			h.logf("drop database %s: %v", db, err)
		}
	}()
	u.Path = "/" + db
	var pid int32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return engineResult{}, err
	}
	h.dbName, h.pg, h.pgPID = db, conn, int(pid)
	defer func() { h.dbName, h.pg, h.pgPID = "", nil, 0 }()
	res, err := h.runEngine(ctx, "PostgreSQL "+strings.Fields(version + " ?")[0], u.String())
	return res, err
}

// row is one line of the results table: a Portvakt figure and its bound.
type row struct {
	What      string
	Got       figure
	BoundName string
	Bound     *figure // a server measured like Portvakt
	BoundRate float64 // or a rate (signatures per second)
	Ratio     float64 // NaN when there is no bound
	Target    string
	Met       string
	// OpenLoop rows are at a fixed rate, idle by design.
	OpenLoop bool
}

type engineResult struct {
	Engine string
	Rows   []row
	Notes  []string
}

const (
	userEmail    = "bench@example.com"
	userPassword = "tangerine-orbit-velvet-42"
	redirectURI  = "http://127.0.0.1:9/callback" // never contacted: the browser stops at the redirect
	webScope     = "openid profile email offline_access"
	serviceScope = "portvakt:users:read"
)

// runEngine measures one Portvakt on one database engine.
func (h *harness) runEngine(ctx context.Context, engine, dbURL string) (res engineResult, err error) {
	res.Engine = engine
	h.logf("== %s", engine)
	dir, err := os.MkdirTemp(h.tmp, "data-")
	if err != nil {
		return res, err
	}
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	issuer := "http://" + addr
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"PORTVAKT_DATA_DIR=" + dir, "PORTVAKT_LOG_LEVEL=error",
		"PORTVAKT_ISSUER=" + issuer, "PORTVAKT_ADDR=" + addr,
	}
	if dbURL != "" {
		env = append(env, "PORTVAKT_DATABASE_URL="+dbURL)
	}

	// Clients and the user, with the CLI. The service is the resource
	// server of the web client's tokens (their audience), so it may
	// introspect them.
	service, err := h.createClient(ctx, dir, env, "--name", "Bench service", "--type", "confidential",
		"--grant-type", "client_credentials", "--scope", serviceScope)
	if err != nil {
		return res, err
	}
	web, err := h.createClient(ctx, dir, env, "--name", "Bench web", "--type", "confidential",
		"--redirect-uri", redirectURI, "--grant-type", "authorization_code,refresh_token",
		"--scope", webScope, "--first-party", "--audience", service.ID)
	if err != nil {
		return res, err
	}
	var opaque oauthApp
	if h.opaqueExchange {
		if opaque, err = h.createClient(ctx, dir, env, "--name", "Bench web (opaque)", "--type", "confidential",
			"--redirect-uri", redirectURI, "--grant-type", "authorization_code,refresh_token",
			"--scope", webScope, "--first-party", "--access-token-format", "opaque", "--audience", service.ID); err != nil {
			return res, err
		}
	}
	if _, err := h.cli(ctx, dir, env, userPassword+"\n", "user", "create", "--email", userEmail, "--password-stdin", "--verified"); err != nil {
		return res, err
	}

	if h.want("lookup") {
		if err := h.seedUsers(ctx, dir, dbURL, h.users); err != nil {
			return res, err
		}
	}

	h.logf("starting portvakt on %s", addr)
	pv, err := startProc(ctx, "portvakt", dir, env, h.portvakt, "serve")
	if err != nil {
		return res, err
	}
	defer pv.stop()
	if err := pv.waitHTTP(ctx, issuer+"/readyz", false, 30*time.Second); err != nil {
		return res, err
	}

	// One sign-in through the hosted pages; later codes reuse its session.
	br, err := newBrowser(ctx, issuer, redirectURI)
	if err != nil {
		return res, err
	}
	code, err := br.signIn(ctx, issuer, web, webScope, userEmail, userPassword)
	if err != nil {
		return res, fmt.Errorf("sign-in: %w", err)
	}
	tok, err := br.exchange(ctx, web, code)
	if err != nil {
		return res, fmt.Errorf("code exchange: %w", err)
	}
	sigs, sigShort, note := signatures("Code exchange, default client", tok)
	res.Notes = append(res.Notes, note)
	// Check what the loads will check, once, with a readable error.
	if b, err := br.call(ctx, "GET", br.ep.Userinfo, "Bearer "+tok.AccessToken, nil); err != nil || !strings.Contains(string(b), `"sub"`) {
		return res, fmt.Errorf("userinfo: %v %s", err, b)
	}
	introForm := url.Values{"token": {tok.AccessToken}}
	if b, err := br.call(ctx, "POST", br.ep.Introspection, service.basic(), introForm); err != nil || !strings.Contains(string(b), `"active":true`) {
		return res, fmt.Errorf("introspection: %v %s", err, b)
	}
	cc, err := br.token(ctx, br.ep.Token, service, url.Values{"grant_type": {"client_credentials"}, "scope": {serviceScope}})
	if err != nil {
		return res, fmt.Errorf("client_credentials: %w", err)
	}
	ccAlg := "opaque"
	if hd, err := decodeHeader(cc.AccessToken); err == nil {
		ccAlg = hd.Alg
		res.Notes = append(res.Notes, fmt.Sprintf("Portvakt's client_credentials access token: JWS header alg %s; the bare bound signs ES256.", hd))
	} else {
		res.Notes = append(res.Notes, "Portvakt's client_credentials access token is opaque.")
	}

	// Refresh token families for the refresh load: more per wrk thread than
	// the thread has connections.
	perThread := h.conns/h.threads + 8
	var refresh []string
	for range perThread * h.threads {
		c, err := br.code(ctx, web, webScope)
		if err != nil {
			return res, err
		}
		t, err := br.exchange(ctx, web, c)
		if err != nil {
			return res, err
		}
		if t.RefreshToken == "" {
			return res, errors.New("code exchange gave no refresh token (offline_access)")
		}
		refresh = append(refresh, t.RefreshToken)
	}
	// One refresh, to see what a refresh signs.
	rt, err := br.token(ctx, br.ep.Token, web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh[0]}})
	if err != nil {
		return res, fmt.Errorf("refresh: %w", err)
	}
	refresh[0] = rt.RefreshToken
	_, refreshShort, note := signatures("Refresh", rt)
	res.Notes = append(res.Notes, note)
	refreshFile := filepath.Join(dir, "refresh-tokens.txt")
	if err := os.WriteFile(refreshFile, []byte(strings.Join(refresh, "\n")+"\n"), 0o600); err != nil {
		return res, err
	}

	if h.want("cc") {
		if err := h.clientCredentials(ctx, &res, pv, br, service, ccAlg, dir); err != nil {
			return res, err
		}
	}
	if h.want("reads") {
		if err := h.reads(ctx, &res, pv, br, service, tok); err != nil {
			return res, err
		}
	}
	if h.want("rate") {
		if err := h.fixedRates(ctx, &res, pv, br, service, tok); err != nil {
			return res, err
		}
	}
	if h.want("lookup") {
		if err := h.lookups(ctx, &res, pv, issuer, cc.AccessToken, h.users); err != nil {
			return res, err
		}
	}
	// Code exchange against the RS256 signing rate, measured right before
	// and right after each exchange run.
	if !h.want("exchange") && !h.want("refresh") {
		return h.finish(res, pv)
	}
	// One core's signing rate sizes the batches of codes: no exchange
	// rate can beat every core signing and nothing else.
	perCore, err := h.signRate(ctx, "RS256", 1, time.Second)
	if err != nil {
		return res, err
	}
	rsPrev, err := h.signRate(ctx, "RS256", 0, h.boundDur)
	if err != nil {
		return res, err
	}
	rsAll := []float64{rsPrev}
	type exchangeCase struct {
		what string
		app  oauthApp
		sigs int
	}
	cases := []exchangeCase{{fmt.Sprintf("authorization code exchange (%s)", sigShort), web, sigs}}
	if h.opaqueExchange {
		c, err := br.code(ctx, opaque, webScope)
		if err != nil {
			return res, err
		}
		t, err := br.exchange(ctx, opaque, c)
		if err != nil {
			return res, err
		}
		osigs, oshort, note := signatures("Code exchange, client with opaque access tokens", t)
		res.Notes = append(res.Notes, note)
		cases = append(cases, exchangeCase{fmt.Sprintf("authorization code exchange, client with opaque access tokens (%s)", oshort), opaque, osigs})
	}
	for _, c := range cases {
		if !h.want("exchange") {
			break
		}
		best := max(perCore, rsPrev/float64(runtime.NumCPU()))
		// Every exchange signs one RS256 ID token; an ES256 access token
		// costs a small fraction of that, so it does not lower the cap.
		f, err := h.exchangeLoad(ctx, pv, br, c.app, float64(runtime.NumCPU())*best, dir)
		if err != nil {
			return res, err
		}
		rsNext, err := h.signRate(ctx, "RS256", 0, h.boundDur)
		if err != nil {
			return res, err
		}
		rsAll = append(rsAll, rsNext)
		rs := (rsPrev + rsNext) / 2
		res.Notes = append(res.Notes, fmt.Sprintf("%s: RS256 bound %.0f before and %.0f after.", c.what, rsPrev, rsNext))
		rsPrev = rsNext
		res.Rows = append(res.Rows, row{
			What: c.what, Got: f, BoundName: fmt.Sprintf("RS256 signatures/s, %d cores (before/after mean)", runtime.NumCPU()), BoundRate: rs,
			Ratio: f.RPS / rs, Target: "≥ 0.60", Met: failedOr(f, yesNo(f.RPS/rs >= 0.60)),
		})
	}
	var rs float64
	for _, v := range rsAll {
		rs += v / float64(len(rsAll))
	}

	// Refresh with rotation.
	if h.want("refresh") {
		h.logf("refresh (rotation)")
		rf, err := h.wrk(ctx, pv, "refresh.lua", br.ep.Token, web.basic(), refreshFile, fmt.Sprint(h.threads))
		if err != nil {
			return res, err
		}
		h.logf("  %s", rf)
		res.Rows = append(res.Rows, row{
			What: fmt.Sprintf("refresh with rotation (%s)", refreshShort), Got: rf,
			BoundName: "RS256 signatures/s (information: mean of this run's)", BoundRate: rs, Ratio: rf.RPS / rs, Target: "—", Met: failedOr(rf, "—"),
		})
	}
	return h.finish(res, pv)
}

// finish adds the server's peak memory and who else used the machine, and
// checks that the server survived.
func (h *harness) finish(res engineResult, pv *proc) (engineResult, error) {
	var busy, idle, sessions []string
	seen := map[string]bool{}
	for _, r := range res.Rows {
		if seen[r.What] {
			if r.Bound != nil && r.Bound.otherCores() >= 0.1 {
				busy = append(busy, fmt.Sprintf("its bound, %s (%.2f cores)", r.BoundName, r.Bound.otherCores()))
			}
			continue
		}
		seen[r.What] = true
		if r.Got.Sessions > 0 {
			sessions = append(sessions, fmt.Sprintf("%s (%d)", r.What, r.Got.Sessions))
		}
		if !r.OpenLoop && r.Got.Idle >= 0.10 {
			idle = append(idle, fmt.Sprintf("%s (%.0f%%)", r.What, 100*r.Got.Idle))
		}
		if c := r.Got.otherCores(); c >= 0.1 {
			busy = append(busy, fmt.Sprintf("%s (%.2f cores)", r.What, c))
		}
		if r.Bound != nil && r.Bound.otherCores() >= 0.1 {
			busy = append(busy, fmt.Sprintf("its bound, %s (%.2f cores)", r.BoundName, r.Bound.otherCores()))
		}
	}
	if len(sessions) > 0 {
		res.Notes = append(res.Notes, "New PostgreSQL sessions (connections) Portvakt opened during: "+strings.Join(sessions, "; ")+". Closed connections' backend CPU is counted through the postmaster's reaped-children time, except where marked ≥ (other databases' connections were open then).")
	}
	if len(idle) > 0 {
		res.Notes = append(res.Notes, "Closed-loop runs that left the machine idle, so were not bound by CPU: "+strings.Join(idle, "; ")+".")
	}
	if len(busy) > 0 {
		res.Notes = append(res.Notes, "Other processes on the machine competed for the cores during: "+strings.Join(busy, "; ")+".")
	} else {
		res.Notes = append(res.Notes, "No other process used more than 0.1 cores during any run.")
	}
	if u, err := readUsage(pv.pid()); err == nil {
		res.Notes = append(res.Notes, fmt.Sprintf("Portvakt's peak resident memory over the run (VmHWM): %.0f MiB.", mib(u.hwmKiB)))
	}
	if pv.exited() {
		return res, fmt.Errorf("portvakt exited during the run:\n%s", pv.out.tail(30))
	}
	if strings.Contains(pv.out.String(), "panic:") {
		return res, fmt.Errorf("portvakt panicked:\n%s", pv.out.tail(40))
	}
	return res, nil
}

// clientCredentials measures the client_credentials grant beside the
// bare endpoint (ES256, before and after) and, for information, the bare
// endpoint signing RS256.
func (h *harness) clientCredentials(ctx context.Context, res *engineResult, pv *proc, br *browser, service oauthApp, ccAlg, dir string) error {
	sb := make([]byte, 32)
	_, _ = rand.Read(sb)
	bareApp := oauthApp{ID: "bench", Secret: hex.EncodeToString(sb)}
	bareES, bareESURL, err := h.startBare(ctx, dir, "ES256", bareApp)
	if err != nil {
		return err
	}
	defer bareES.stop()
	ccBody := "grant_type=client_credentials&scope=" + url.QueryEscape(serviceScope)

	h.logf("client_credentials: bare ES256 (before)")
	bBefore, err := h.wrk(ctx, bareES, "form.lua", bareESURL, bareApp.basic(), ccBody, `"access_token"`)
	if err != nil {
		return err
	}
	h.logf("  %s", bBefore)
	h.logf("client_credentials: portvakt")
	ccFig, err := h.wrk(ctx, pv, "form.lua", br.ep.Token, service.basic(), ccBody, `"access_token"`)
	if err != nil {
		return err
	}
	h.logf("  %s", ccFig)
	h.logf("client_credentials: bare ES256 (after)")
	bAfter, err := h.wrk(ctx, bareES, "form.lua", bareESURL, bareApp.basic(), ccBody, `"access_token"`)
	if err != nil {
		return err
	}
	h.logf("  %s", bAfter)
	bareES.stop()
	bES := averageFigures(bBefore, bAfter)
	res.Rows = append(res.Rows, row{
		What: fmt.Sprintf("client_credentials token (Portvakt signs %s)", ccAlg), Got: ccFig,
		BoundName: "bare endpoint, ES256 (before/after mean)", Bound: &bES,
		Ratio: ccFig.RPS / bES.RPS, Target: "≥ 0.70", Met: failedOr(ccFig, yesNo(ccFig.RPS/bES.RPS >= 0.70)),
	})
	res.Notes = append(res.Notes, fmt.Sprintf("Bare ES256 bound before and after: %.0f and %.0f req/s.", bBefore.RPS, bAfter.RPS))

	bareRS, bareRSURL, err := h.startBare(ctx, dir, "RS256", bareApp)
	if err != nil {
		return err
	}
	defer bareRS.stop()
	h.logf("client_credentials: bare RS256 (information)")
	bRS, err := h.wrk(ctx, bareRS, "form.lua", bareRSURL, bareApp.basic(), ccBody, `"access_token"`)
	if err != nil {
		return err
	}
	h.logf("  %s", bRS)
	bareRS.stop()
	res.Rows = append(res.Rows, row{
		What: fmt.Sprintf("client_credentials token (Portvakt signs %s)", ccAlg), Got: ccFig,
		BoundName: "bare endpoint, RS256 (information)", Bound: &bRS,
		Ratio: ccFig.RPS / bRS.RPS, Target: "—", Met: "—",
	})
	return nil
}

// reads loads JWKS, userinfo and introspection as fast as they go.
func (h *harness) reads(ctx context.Context, res *engineResult, pv *proc, br *browser, service oauthApp, tok tokenResponse) error {
	introForm := url.Values{"token": {tok.AccessToken}}
	// Reads.
	for _, r := range []struct {
		what, script, target string
		args                 []string
	}{
		{"JWKS (GET /keys)", "get.lua", br.ep.JWKS, []string{"-", `"keys"`}},
		{"userinfo (GET, bearer JWT access token)", "get.lua", br.ep.Userinfo, []string{"Bearer " + tok.AccessToken, `"sub"`}},
		{"introspection (POST, client_secret_basic)", "form.lua", br.ep.Introspection, []string{service.basic(), introForm.Encode(), `"active":true`}},
	} {
		h.logf("%s", r.what)
		f, err := h.wrk(ctx, pv, r.script, r.target, r.args...)
		if err != nil {
			return err
		}
		h.logf("  %s", f)
		res.Rows = append(res.Rows, row{What: r.what + ", closed loop", Got: f, Ratio: math.NaN(), Target: "—", Met: failedOr(f, "—")})
	}
	return nil
}

// fixedRates measures userinfo and introspection latency at a fixed rate.
func (h *harness) fixedRates(ctx context.Context, res *engineResult, pv *proc, br *browser, service oauthApp, tok tokenResponse) error {
	introForm := url.Values{"token": {tok.AccessToken}}
	for _, r := range []struct {
		what   string
		t      vegeta.Target
		expect string
	}{
		{"userinfo", vegeta.Target{Method: "GET", URL: br.ep.Userinfo, Header: map[string][]string{"Authorization": {"Bearer " + tok.AccessToken}}}, `"sub"`},
		{"introspection", vegeta.Target{Method: "POST", URL: br.ep.Introspection, Body: []byte(introForm.Encode()),
			Header: map[string][]string{"Authorization": {service.basic()}, "Content-Type": {"application/x-www-form-urlencoded"}}}, `"active":true`},
	} {
		h.logf("%s at %d req/s for %s", r.what, h.rate, h.rateDur)
		f, err := h.fixedRate(ctx, pv, r.t, r.expect)
		if err != nil {
			return err
		}
		h.logf("  %s", f)
		res.Rows = append(res.Rows, row{
			What: fmt.Sprintf("%s at a fixed %s req/s (open loop)", r.what, thousands(h.rate)), Got: f, Ratio: math.NaN(), OpenLoop: true,
			Target: "p99 < 5 ms", Met: failedOr(f, yesNo(f.P99 < 5*time.Millisecond && f.RPS >= 0.95*float64(h.rate))),
		})
	}
	return nil
}

// exchangeLoad makes enough fresh codes for one wrk run at up to maxRate
// exchanges a second, and redeems them with wrk. Codes live 60 seconds, so
// they are made just before, for at most 40 seconds; a run that used them
// all up is marked invalid rather than repeated.
func (h *harness) exchangeLoad(ctx context.Context, pv *proc, br *browser, app oauthApp, maxRate float64, dir string) (figure, error) {
	n := int(maxRate*h.dur.Seconds()*1.25) + 2*h.conns
	codes, took, err := br.codes(ctx, app, webScope, n, h.codeWorkers, 40*time.Second)
	if err != nil {
		return figure{}, fmt.Errorf("make codes: %w", err)
	}
	h.logf("made %d of %d codes in %s (%.0f/s)", len(codes), n, took.Round(time.Millisecond), float64(len(codes))/took.Seconds())
	file := filepath.Join(dir, "codes.txt")
	if err := os.WriteFile(file, []byte(strings.Join(codes, "\n")+"\n"), 0o600); err != nil {
		return figure{}, err
	}
	h.logf("code exchange (client %s)", app.ID)
	f, err := h.wrk(ctx, pv, "code.lua", br.ep.Token, app.basic(), file, fmt.Sprint(h.threads), br.exchangeRest())
	if err != nil {
		return figure{}, err
	}
	h.logf("  %s", f)
	return f, nil
}

// settle waits, up to -quiet-wait, until processes other than this driver
// and the database under test use less than 0.15 cores over half a second.
// pgSessions is how many sessions PostgreSQL has opened on the database
// under test so far (0 on SQLite).
func (h *harness) pgSessions(ctx context.Context) int64 {
	if h.pg == nil {
		return 0
	}
	var n int64
	_ = h.pg.QueryRow(ctx, "SELECT sessions FROM pg_stat_database WHERE datname = $1", h.dbName).Scan(&n)
	return n
}

func (h *harness) settle(ctx context.Context) {
	if h.quietWait <= 0 {
		return
	}
	start := time.Now()
	for {
		t0 := readProcTimes(h.dbName, h.pgPID)
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		_, other, _ := loadBetween(t0, readProcTimes(h.dbName, h.pgPID), os.Getpid())
		cores := other.Seconds() / 0.5
		if cores < 0.15 {
			if waited := time.Since(start); waited > time.Second {
				h.logf("waited %s for other processes to quieten", waited.Round(time.Second))
			}
			return
		}
		if time.Since(start) > h.quietWait {
			h.logf("other processes still use %.2f cores after %s; measuring anyway", cores, h.quietWait)
			return
		}
	}
}

// signRate runs bench/bare -sign-rate on workers goroutines (0: one per
// core) for d and returns signatures per second.
func (h *harness) signRate(ctx context.Context, alg string, workers int, d time.Duration) (float64, error) {
	h.settle(ctx)
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	t0 := readProcTimes(h.dbName, h.pgPID)
	start := time.Now()
	out, err := exec.CommandContext(ctx, h.bare, "-sign-rate", "-alg", alg, "-workers", fmt.Sprint(workers), "-d", d.String()).Output()
	if err != nil {
		return 0, fmt.Errorf("bare -sign-rate: %w", err)
	}
	db, other, _ := loadBetween(t0, readProcTimes(h.dbName, h.pgPID), os.Getpid())
	other += db
	var r struct {
		PerSecond float64 `json:"per_second"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.PerSecond <= 0 {
		return 0, fmt.Errorf("bare -sign-rate printed %q", out)
	}
	h.logf("%s signing rate, %d goroutines: %.0f/s (other processes %.2f cores)", alg, workers, r.PerSecond, other.Seconds()/time.Since(start).Seconds())
	return r.PerSecond, nil
}

func (h *harness) startBare(ctx context.Context, dir, alg string, app oauthApp) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc(ctx, "bare "+alg, dir, []string{"PATH=" + os.Getenv("PATH"), "BARE_CLIENT_SECRET=" + app.Secret},
		h.bare, "-addr", addr, "-alg", alg, "-client-id", app.ID)
	if err != nil {
		return nil, "", err
	}
	u := "http://" + addr + "/token"
	// GET /token is 405: it is up.
	if err := p.waitHTTP(ctx, u, true, 30*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, u, nil
}

// cli runs the portvakt CLI with stdin and returns its standard output.
func (h *harness) cli(ctx context.Context, dir string, env []string, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.portvakt, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("portvakt %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func (h *harness) createClient(ctx context.Context, dir string, env []string, args ...string) (oauthApp, error) {
	out, err := h.cli(ctx, dir, env, "", append([]string{"client", "create", "--json"}, args...)...)
	if err != nil {
		return oauthApp{}, err
	}
	var a oauthApp
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.ID == "" || a.Secret == "" {
		return oauthApp{}, fmt.Errorf("client create printed %q", out)
	}
	return a, nil
}

// signatures counts the JWS signatures in a token response and describes
// them: briefly for a table, fully for a note.
func signatures(who string, t tokenResponse) (n int, short, note string) {
	var parts, algs []string
	for _, tk := range []struct{ name, tok string }{{"access token", t.AccessToken}, {"ID token", t.IDToken}} {
		if tk.tok == "" {
			continue
		}
		hd, err := decodeHeader(tk.tok)
		if err != nil {
			parts = append(parts, tk.name+" opaque")
			continue
		}
		n++
		algs = append(algs, hd.Alg+" "+tk.name)
		parts = append(parts, fmt.Sprintf("%s %s", tk.name, hd))
	}
	if len(algs) == 0 {
		algs = []string{"none"}
	}
	short = fmt.Sprintf("%d signatures: %s", n, strings.Join(algs, " + "))
	if n == 1 {
		short = "1 signature: " + algs[0]
	}
	note = fmt.Sprintf("%s: %s; refresh token opaque.", who, strings.Join(parts, ", "))
	return n, short, note
}

func averageFigures(a, b figure) figure {
	avg := func(x, y time.Duration) time.Duration { return (x + y) / 2 }
	return figure{
		RPS: (a.RPS + b.RPS) / 2, P50: avg(a.P50, b.P50), P99: avg(a.P99, b.P99),
		Requests: a.Requests + b.Requests, Failed: a.Failed + b.Failed,
		Wall: a.Wall + b.Wall, CPU: a.CPU + b.CPU, RSSKiB: max(a.RSSKiB, b.RSSKiB),
		Idle: (a.Idle + b.Idle) / 2, DB: a.DB + b.DB, DBPartial: a.DBPartial || b.DBPartial,
		Other: a.Other + b.Other, Sessions: a.Sessions + b.Sessions,
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// failedOr is s, unless the run had failures and so is no measurement.
func failedOr(f figure, s string) string {
	switch {
	case f.Exhausted > 0:
		return "**invalid**: the codes or tokens ran out"
	case f.Failed > 0:
		return fmt.Sprintf("**invalid**: %d failed", f.Failed)
	}
	return s
}

func sortDurations(d []time.Duration) { slices.Sort(d) }

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

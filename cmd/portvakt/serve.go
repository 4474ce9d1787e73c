package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/accounts"
	"github.com/portvakt/portvakt/internal/api"
	"github.com/portvakt/portvakt/internal/clients"
	"github.com/portvakt/portvakt/internal/consents"
	"github.com/portvakt/portvakt/internal/demo"
	"github.com/portvakt/portvakt/internal/events"
	"github.com/portvakt/portvakt/internal/externalids"
	"github.com/portvakt/portvakt/internal/federation"
	"github.com/portvakt/portvakt/internal/geoip"
	"github.com/portvakt/portvakt/internal/mail"
	"github.com/portvakt/portvakt/internal/oidc"
	"github.com/portvakt/portvakt/internal/orgs"
	"github.com/portvakt/portvakt/internal/retention"
	"github.com/portvakt/portvakt/internal/server"
	"github.com/portvakt/portvakt/internal/web"
	"github.com/portvakt/portvakt/internal/webhooks"
)

func newServeCmd(e env) *cobra.Command {
	var withDemo bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Long: `Run the server: hosted pages, OpenID Provider, management API and the
background workers that read the event outbox.

With no configuration it keeps its data in ./portvakt-data (SQLite in WAL
mode, created on first start, with a master.key to back up), listens on
localhost:8080 and uses the issuer http://localhost:8080. Set
PORTVAKT_DATABASE_URL=postgres://… to run on PostgreSQL; any number of nodes
may then share one database.

Migrations are applied at start. SIGTERM or SIGINT drains in-flight requests,
stops the workers and exits 0.

Endpoints for operators: /healthz (process alive), /readyz (database reachable
and schema current), /metrics (Prometheus).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), cmd, e, withDemo)
		},
	}
	cmd.Flags().BoolVar(&withDemo, "demo", false, "also serve a demo application at /demo that signs in through the real code flow (development only)")
	return cmd
}

func serve(ctx context.Context, cmd *cobra.Command, e env, withDemo bool) error {
	start := time.Now()
	a, err := openApp(ctx, cmd, e)
	if err != nil {
		return err
	}
	defer a.close()
	cfg := a.cfg
	proxies, _ := cfg.proxies()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("addr (PORTVAKT_ADDR): %s is already in use by another program", cfg.Addr)
		}
		return fmt.Errorf("addr (PORTVAKT_ADDR): listen on %s: %w", cfg.Addr, err)
	}

	svc, err := a.services()
	if err != nil {
		_ = ln.Close()
		return err
	}
	if a.store.Engine() == "sqlite" {
		spareProcessor(os.Getenv)
	}
	workers := &events.Runner{Store: a.store, Holder: nodeName(), Logger: a.log.With("component", "events")}
	notifier := &accounts.Notifier{Accounts: svc.accounts, Mail: svc.outbox, BaseURL: cfg.issuerURL()}
	workers.Add(events.Consumer{Name: accounts.ConsumerName, Handle: notifier.Handle})
	logout, err := a.backchannelLogout(svc)
	if err != nil {
		_ = ln.Close()
		return err
	}
	workers.Add(events.Consumer{Name: oidc.BackchannelConsumer, Handle: logout.Handle})
	apps := clients.Launcher{Store: a.store}
	invitations := &orgs.Invitations{Store: a.store, Apps: apps, Cipher: a.keyring, TTL: cfg.InvitationTTL, Now: a.now}
	inviteMail := &orgs.InvitationMailer{Invitations: invitations, Mail: svc.outbox, BaseURL: cfg.issuerURL()}
	workers.Add(events.Consumer{Name: orgs.MailerName, Handle: inviteMail.Handle})
	hooks := a.webhookDispatcher(workers.Holder)
	fanout := &webhooks.Fanout{Store: a.store, ExternalIDs: a.store, Wake: hooks.Wake, Logger: a.log.With("component", "webhooks"), Now: a.now}
	workers.Add(events.Consumer{Name: webhooks.ConsumerName, Handle: fanout.Handle})
	if cfg.OperatorEmail != "" {
		notify := &webhooks.PauseNotifier{To: cfg.OperatorEmail, Mail: svc.outbox, Subscriptions: newWebhookService(a)}
		workers.Add(events.Consumer{Name: webhooks.NotifierName, Handle: notify.Handle})
	}

	nationalIDKey, err := a.keyring.Derive("national identity numbers")
	if err != nil {
		_ = ln.Close()
		return err
	}
	fed := &federation.Service{Store: a.store, Cipher: a.keyring, NationalIDKey: nationalIDKey, Now: a.now}
	if err := applyIdps(ctx, a, fed, cfg.IdentityProviders); err != nil {
		_ = ln.Close()
		return err
	}
	purposes, problems := cfg.consentPurposes(catalogTitle(svc.catalog))
	if err := errors.Join(problems...); err != nil {
		_ = ln.Close()
		return configError{err}
	}
	agreed := &consents.Service{Purposes: purposes, Store: a.store, Now: a.now}
	pages := &web.Handler{
		Catalog:            svc.catalog,
		Accounts:           svc.accounts,
		Privacy:            svc.privacy,
		Authn:              svc.authn,
		Federation:         fed,
		Orgs:               newOrgsService(a),
		Invitations:        invitations,
		Apps:               apps,
		Joins:              &orgs.Joins{Store: a.store, Emails: svc.accounts, Now: a.now},
		EventTimes:         a.store,
		Flows:              svc.flows,
		Sessions:           svc.sessions,
		Limits:             svc.limits,
		Brand:              web.Branding{ProductName: cfg.ProductName, LogoURL: cfg.LogoURL, PrimaryColor: cfg.PrimaryColor},
		Issuer:             cfg.issuerURL(),
		Logger:             a.log.With("component", "web"),
		Wake:               workers.Wake,
		MinPasswordLength:  cfg.PasswordMinLength,
		EmailCodes:         cfg.EmailCodes,
		RegistrationFields: cfg.RegistrationFields,
		Consents:           agreed,
		AppNames:           apps,
		Now:                a.now,
	}
	if cfg.ThemeDir != "" {
		pages.ThemeDir = os.DirFS(cfg.ThemeDir)
	}
	if cfg.GeoIPDatabase != "" {
		// Opened once; a file that is no City or Country database stops
		// the start, naming the setting.
		places, err := geoip.Open(cfg.GeoIPDatabase)
		if err != nil {
			_ = ln.Close()
			return configError{fmt.Errorf("geoip_database (PORTVAKT_GEOIP_DATABASE): %w", err)}
		}
		defer places.Close()
		pages.Places = places
	}
	if err := pages.Init(); err != nil {
		_ = ln.Close()
		return configError{fmt.Errorf("theme_dir (PORTVAKT_THEME_DIR): %w", err)}
	}
	provider, err := a.provider(ctx, svc, pages)
	if err != nil {
		_ = ln.Close()
		return err
	}
	pages.Connections = &oidc.Connections{Store: a.store, Clients: providerClients{svc.clients}, Now: a.now}
	management := &api.Handler{Tokens: provider, Accounts: svc.accounts, Privacy: svc.privacy, Orgs: pages.Orgs, Invitations: invitations, Idempotency: a.store, Events: a.store, Clients: svc.clients, ClientAdmin: svc.clients, Webhooks: newWebhookService(a),
		IdPs: fed, ProviderStore: a.store, ExternalIDs: &externalids.Service{Store: a.store, Now: a.now}, Consents: agreed,
		Issuer: cfg.issuerURL(), Logger: a.log.With("component", "api"), Now: a.now,
		Wake: func() { workers.Wake(); hooks.Wake() }}
	surfaces := []server.Mounter{provider, pages, management}
	if withDemo {
		secret, err := a.registerDemo(ctx, svc)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("register the demo application: %w", err)
		}
		surfaces = append(surfaces, &demo.Handler{Issuer: cfg.issuerURL(), Secret: secret, Secure: cfg.issuerURL().Scheme == "https", Logger: a.log.With("component", "demo")})
		a.log.Info("demo application: open it to sign in through the real code flow", "url", demo.HomeURI(cfg.issuerURL()))
	}
	if svc.outbox.Sender == nil {
		surfaces = append(surfaces, &mail.DevHandler{Outbox: svc.outbox})
		a.log.Warn("no mail server configured (smtp_url, PORTVAKT_SMTP_URL): mail is kept in the database, not sent. Read it with `portvakt mail list` or at /dev/mail",
			"dev_mail_url", cfg.issuerURL().JoinPath("/dev/mail").String())
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	srv, err := server.New(server.Config{
		Issuer:          cfg.issuerURL(),
		TrustedProxies:  proxies,
		MaxRequestBytes: cfg.MaxRequestBytes,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          a.log,
		Registry:        reg,
		Ready: func(ctx context.Context) error {
			if err := a.store.Ping(ctx); err != nil {
				return errors.New("database unreachable")
			}
			return a.store.CheckSchema(ctx)
		},
	}, surfaces...)
	if err != nil {
		_ = ln.Close()
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = workers.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		svc.keys.Run(ctx, time.Hour)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		hooks.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		(&retention.Job{Store: a.store, Holder: workers.Holder, Logger: a.log.With("component", "retention"),
			Expire: func(ctx context.Context) (int, error) { return invitations.Expire(ctx, 500) },
			Erase:  func(ctx context.Context) (int, error) { return svc.privacy.Sweep(ctx, 100) }}).Run(ctx)
	}()

	a.log.Info("ready", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "engine", a.store.Engine(),
		"version", version, "startup_ms", time.Since(start).Milliseconds())
	go lessGC(os.Getenv) // beside serving: readiness does not wait for it
	err = srv.Serve(ctx, ln)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	a.log.Info("stopped")
	return nil
}

// webhookDispatcher is the sender of webhook deliveries, on every node.
func (a *app) webhookDispatcher(holder string) *webhooks.Dispatcher {
	cfg := a.cfg
	policy := cfg.webhookPolicy()
	if policy.AllowHTTP || policy.AllowPrivate {
		a.log.Warn("webhooks may use http or reach private addresses: for development or trusted networks only",
			"webhooks_allow_http", policy.AllowHTTP, "webhooks_allow_private_networks", policy.AllowPrivate)
	}
	return &webhooks.Dispatcher{
		Store: a.store, Cipher: a.keyring, Client: policy.Client(cfg.WebhooksTimeout), Holder: holder,
		Retry: webhooks.RetryPolicy{RetryFor: cfg.WebhooksRetryFor, PauseAfter: cfg.WebhooksPauseAfter},
		// Long enough for a request and its record; after a crash the
		// deliveries in flight wait this long before another node sends
		// them again.
		LeaseTTL: 2*cfg.WebhooksTimeout + 5*time.Second,
		Logger:   a.log.With("component", "webhooks"), Now: a.now,
	}
}

// nodeName names this process in leases: host name and a random suffix, so
// two processes on one host never share leases.
func nodeName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// spareProcessor gives the Go scheduler one processor more than it would
// use, unless GOMAXPROCS is set. SQLite's writer waits for the disk (fsync)
// inside a system call, holding a processor meanwhile; with one to spare
// the other goroutines (signing tokens, serving pages) keep every core
// busy during that wait.
func spareProcessor(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
}

// lessGC lets the heap grow to four times its live size before the
// garbage collector runs (GOGC=400), unless GOGC is set. The server's live
// heap is small (tens of MiB) and nearly every request allocates only
// short-lived objects; at the default of 100 the collector took about a
// tenth of the CPU of a token request. It is called once start-up is
// done, so the start-up's garbage is still collected at the default and
// the idle footprint stays as it was.
func lessGC(getenv func(string) string) {
	// The start-up's garbage (migrations, templates, the password
	// dictionaries' build) goes back to the system first.
	debug.FreeOSMemory()
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

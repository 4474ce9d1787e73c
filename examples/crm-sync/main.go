// Command crm-sync is an example integration: a CRM's side of Portvakt.
// It receives Portvakt's webhooks, checks their signatures (Standard
// Webhooks), and keeps a local copy of the contacts — who they are, which
// organizations they belong to with which roles, which CRM invitation
// brought them — up to date, reading a person's profile from the
// management API when it changes.
//
//	crm-sync -addr 127.0.0.1:9000 -issuer https://id.example.com \
//	  -client-id … -client-secret-file crm.secret -webhook-secret-file hook.secret \
//	  -contacts contacts.json
//
// Subscribe it with
//
//	portvakt webhook create --url https://crm.example.com/portvakt-webhooks \
//	  --event 'user.*' --event 'membership.*' --event 'invitation.*'
//
// and register its API client with the scope portvakt:users:read.
//
// It answers a webhook only once the change is saved, so a crash loses
// nothing: Portvakt sends it again. Each webhook-id is applied once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"golang.org/x/oauth2/clientcredentials"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crm-sync:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9000", "where to receive webhooks")
	path := flag.String("path", "/portvakt-webhooks", "the webhook URL's path")
	issuer := flag.String("issuer", "", "Portvakt's URL (required)")
	clientID := flag.String("client-id", "", "the API client's ID (scope portvakt:users:read)")
	clientSecretFile := flag.String("client-secret-file", "", "a file holding the API client's secret")
	hookSecretFile := flag.String("webhook-secret-file", "", "a file holding the webhook subscription's secret (whsec_…)")
	contactsFile := flag.String("contacts", "contacts.json", "where the contacts are kept")
	flag.Parse()
	if *issuer == "" || *clientID == "" || *clientSecretFile == "" || *hookSecretFile == "" {
		flag.Usage()
		return errors.New("-issuer, -client-id, -client-secret-file and -webhook-secret-file are required")
	}
	read := func(name string) (string, error) {
		b, err := os.ReadFile(name)
		return strings.TrimSpace(string(b)), err
	}
	clientSecret, err := read(*clientSecretFile)
	if err != nil {
		return err
	}
	hookSecret, err := read(*hookSecretFile)
	if err != nil {
		return err
	}
	wh, err := standardwebhooks.NewWebhook(hookSecret)
	if err != nil {
		return fmt.Errorf("webhook secret: %w", err)
	}
	contacts, err := OpenContacts(*contactsFile)
	if err != nil {
		return err
	}
	api := clientcredentials.Config{ClientID: *clientID, ClientSecret: clientSecret,
		TokenURL: strings.TrimSuffix(*issuer, "/") + "/oauth/token", Scopes: []string{"portvakt:users:read"}}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	r := &Receiver{
		Verifier: wh,
		Contacts: contacts,
		Profiles: &APIProfiles{Base: strings.TrimSuffix(*issuer, "/") + "/api/v1", HTTP: api.Client(context.Background())},
		Log:      log,
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+*path, r)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("receiving webhooks", "addr", *addr, "path", *path, "contacts", *contactsFile)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

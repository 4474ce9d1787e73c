package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/mail"
)

func newMailCmd(e env) *cobra.Command {
	cmd := groupCmd("mail", "Inspect the mail Portvakt sent or captured")
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the newest mails, with their text and links",
		Long: `List the newest mails, newest first, with the plain-text body and the links
in it. Without a mail server (smtp_url empty) Portvakt sends nothing and keeps
mail in the database as "captured"; this is how to read it, for example to
follow the link that verifies a new account:

  portvakt mail list --limit 1 --json | jq -r '.links[0]'

With --json each mail is one JSON object a line: id, event_uuid, to, subject,
template, lang, status (queued, sent, captured or failed), attempts,
last_error, created_at, sent_at, text and links.

The bodies hold secrets (verification links and codes); they are stored
encrypted and shown here decrypted.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return usageError{errors.New("--limit must be at least 1")}
			}
			a, err := openApp(cmd.Context(), cmd, e)
			if err != nil {
				return err
			}
			defer a.close()
			o := &mail.Outbox{Store: a.store, Keyring: a.keyring, Logger: a.log, Now: a.now}
			mails, err := o.List(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if asJSON {
				out := json.NewEncoder(e.stdout)
				for _, m := range mails {
					if err := out.Encode(mailJSON(m)); err != nil {
						return err
					}
				}
				return nil
			}
			return printMails(e.stdout, mails)
		},
	}
	list.Flags().IntVar(&limit, "limit", 20, "list at most this many mails")
	list.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per mail")
	cmd.AddCommand(list)
	return cmd
}

// mailJSON is the --json form of a mail.
func mailJSON(m mail.Mail) map[string]any {
	links := mail.Links(m.Text)
	if links == nil {
		links = []string{}
	}
	out := map[string]any{
		"id":         m.ID,
		"event_uuid": m.EventUUID,
		"to":         m.To,
		"subject":    m.Subject,
		"template":   m.Template,
		"lang":       m.Lang,
		"status":     m.Status,
		"attempts":   m.Attempts,
		"created_at": m.CreatedAt.UTC().Format(time.RFC3339Nano),
		"text":       m.Text,
		"links":      links,
	}
	if m.ToName != "" {
		out["to_name"] = m.ToName
	}
	if m.LastError != "" {
		out["last_error"] = m.LastError
	}
	if !m.SentAt.IsZero() {
		out["sent_at"] = m.SentAt.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// printMails writes mails for a person to read.
func printMails(w io.Writer, mails []mail.Mail) error {
	if len(mails) == 0 {
		_, err := fmt.Fprintln(w, "no mail yet")
		return err
	}
	for i, m := range mails {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  %s  %s  to %s\n", m.CreatedAt.UTC().Format(time.RFC3339), m.Status, m.Template, m.To)
		fmt.Fprintf(w, "  subject: %s\n", m.Subject)
		for _, l := range mail.Links(m.Text) {
			fmt.Fprintf(w, "  link:    %s\n", l)
		}
		if m.LastError != "" {
			fmt.Fprintf(w, "  error:   %s\n", m.LastError)
		}
	}
	return nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portvakt/portvakt/internal/webhooks"
)

func newWebhookCmd(e env) *cobra.Command {
	cmd := groupCmd("webhook", "Manage webhook subscriptions, their deliveries and dead letters")
	cmd.AddCommand(newWebhookCreateCmd(e), newWebhookListCmd(e), newWebhookGetCmd(e), newWebhookUpdateCmd(e),
		newWebhookDeleteCmd(e), newWebhookRotateCmd(e), newWebhookDeliveriesCmd(e), newWebhookAttemptsCmd(e), newWebhookReplayCmd(e))
	return cmd
}

// webhookPolicy is where the deployment lets webhooks go.
func (c Config) webhookPolicy() webhooks.Policy {
	return webhooks.Policy{AllowHTTP: c.WebhooksAllowHTTP, AllowPrivate: c.WebhooksAllowPrivateNetworks}
}

func newWebhookService(a *app) *webhooks.Service {
	return &webhooks.Service{Store: a.store, Cipher: a.keyring, Policy: a.cfg.webhookPolicy(), Now: a.now}
}

// withWebhooks runs fn with the webhooks service.
func withWebhooks(cmd *cobra.Command, e env, fn func(svc *webhooks.Service) error) error {
	a, err := openApp(cmd.Context(), cmd, e)
	if err != nil {
		return err
	}
	defer a.close()
	return fn(newWebhookService(a))
}

// webhookFieldFlags names the flag that sets each field.
var webhookFieldFlags = map[string]string{
	"url": "--url", "event_types": "--event", "description": "--description", "overlap": "--overlap", "status": "--status",
}

// webhookProblem turns the service's errors into messages that name the
// flag or the thing not found.
func webhookProblem(err error, what string) error {
	var fe webhooks.FieldError
	switch {
	case errors.Is(err, webhooks.ErrNotFound):
		return usageError{fmt.Errorf("%s: %w", what, webhooks.ErrNotFound)}
	case errors.Is(err, webhooks.ErrConflict):
		return usageError{err}
	case errors.As(err, &fe):
		return usageError{errors.New(problems(err, webhookFieldFlags, func(err error) (string, string, bool) {
			var fe webhooks.FieldError
			ok := errors.As(err, &fe)
			return fe.Field, fe.Message, ok
		}))}
	}
	return err
}

// webhookOut is a subscription as the commands print it; the secret
// appears only when it was just made.
type webhookOut struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	EventTypes  []string `json:"event_types"`
	Enabled     bool     `json:"enabled"`
	Paused      bool     `json:"paused"`
	// PausedAt and PauseReason say why a subscription was paused.
	PausedAt    *time.Time `json:"paused_at,omitempty"`
	PauseReason string     `json:"pause_reason,omitempty"`
	// PreviousSecretUntil is when the secret replaced by the last
	// rotation stops signing.
	PreviousSecretUntil *time.Time `json:"previous_secret_until,omitempty"`
	Secret              string     `json:"secret,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func webhookView(s webhooks.Subscription, secret string, now time.Time) webhookOut {
	out := webhookOut{ID: s.ID, URL: s.URL, Description: s.Description, EventTypes: s.EventTypes, Enabled: s.Enabled,
		Paused: s.Paused(), PausedAt: optTime(s.PausedAt), PauseReason: s.PauseReason, Secret: secret,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if len(s.PreviousSecret) > 0 && now.Before(s.PreviousExpiresAt) {
		out.PreviousSecretUntil = optTime(s.PreviousExpiresAt)
	}
	return out
}

func webhookState(s webhooks.Subscription) string {
	switch {
	case !s.Enabled:
		return "disabled"
	case s.Paused():
		return "paused"
	}
	return "enabled"
}

func printWebhook(e env, s webhooks.Subscription, secret string, asJSON bool) error {
	v := webhookView(s, secret, time.Now())
	if asJSON {
		return json.NewEncoder(e.stdout).Encode(v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nURL\t%s\nEvents\t%s\nState\t%s\n", s.ID, s.URL, strings.Join(s.EventTypes, ", "), webhookState(s))
	if s.Description != "" {
		fmt.Fprintf(tw, "Description\t%s\n", s.Description)
	}
	if s.Paused() {
		fmt.Fprintf(tw, "Paused at\t%s (%s)\n", s.PausedAt.Format(time.RFC3339), s.PauseReason)
	}
	if v.PreviousSecretUntil != nil {
		fmt.Fprintf(tw, "Previous secret signs until\t%s\n", v.PreviousSecretUntil.Format(time.RFC3339))
	}
	if secret != "" {
		fmt.Fprintf(tw, "Secret\t%s\t(shown only now: give it to the receiver)\n", secret)
	}
	return tw.Flush()
}

func newWebhookCreateCmd(e env) *cobra.Command {
	var sub webhooks.Subscription
	var disabled, asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Subscribe a URL to events",
		Long: `Subscribe a URL to events. --event (repeat) is an event type such as
user.created, or a prefix pattern such as user.* ("*" alone: every type).
The signing secret (whsec_…) is printed once; receivers verify each message
with it (docs/webhooks.md).

Example:
  portvakt webhook create --url https://crm.example.com/portvakt \
    --event 'user.*' --event membership.added --description CRM --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sub.Enabled = !disabled
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				s, secret, err := svc.Create(cmd.Context(), sub, "system:cli")
				if err != nil {
					return webhookProblem(err, "")
				}
				return printWebhook(e, s, secret, asJSON)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sub.URL, "url", "", "where events are posted (https)")
	fl.StringArrayVar(&sub.EventTypes, "event", nil, "an event type or prefix pattern (user.*); repeat for more")
	fl.StringVar(&sub.Description, "description", "", "what the subscription is for")
	fl.BoolVar(&disabled, "disabled", false, "create it disabled (no deliveries until enabled)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newWebhookListCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List webhook subscriptions",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				list, err := svc.List(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(e.stdout)
					for _, s := range list {
						if err := enc.Encode(webhookView(s, "", time.Now())); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tEVENTS\tURL")
				for _, s := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, webhookState(s), strings.Join(s.EventTypes, ","), s.URL)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

func newWebhookGetCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show a webhook subscription",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				s, err := svc.Get(cmd.Context(), args[0])
				if err != nil {
					return webhookProblem(err, "webhook "+args[0])
				}
				return printWebhook(e, s, "", asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newWebhookUpdateCmd(e env) *cobra.Command {
	var url, description string
	var types []string
	var enable, disable, asJSON bool
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a webhook subscription",
		Long: `Change a webhook subscription: only the flags given change. --event
replaces the whole list. --enable also resumes a subscription that was paused
for failing; its waiting deliveries are then sent.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if enable && disable {
				return usageError{errors.New("--enable and --disable exclude each other")}
			}
			set := cmd.Flags().Changed
			var c webhooks.Change
			if set("url") {
				c.URL = &url
			}
			if set("description") {
				c.Description = &description
			}
			if set("event") {
				c.EventTypes = &types
			}
			if enable || disable {
				c.Enabled = &enable
			}
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				s, err := svc.Update(cmd.Context(), args[0], c, "system:cli")
				if err != nil {
					return webhookProblem(err, "webhook "+args[0])
				}
				return printWebhook(e, s, "", asJSON)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "url", "", "where events are posted (https)")
	fl.StringArrayVar(&types, "event", nil, "an event type or prefix pattern; repeat for more (replaces the list)")
	fl.StringVar(&description, "description", "", "what the subscription is for")
	fl.BoolVar(&enable, "enable", false, "enable it (and resume it if it was paused)")
	fl.BoolVar(&disable, "disable", false, "disable it: events that happen meanwhile are not delivered")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newWebhookDeleteCmd(e env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a webhook subscription",
		Long:  "Delete a webhook subscription with its deliveries (also those not yet sent) and their attempts. Pass --yes to confirm.",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageError{errors.New("deleting a webhook drops its undelivered events; pass --yes to confirm")}
			}
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				if err := svc.Delete(cmd.Context(), args[0], "system:cli"); err != nil {
					return webhookProblem(err, "webhook "+args[0])
				}
				fmt.Fprintf(e.stdout, "deleted webhook %s\n", args[0])
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

func newWebhookRotateCmd(e env) *cobra.Command {
	var overlap time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give a webhook subscription a new signing secret",
		Long: `Give a webhook subscription a new signing secret, printed once. During
--overlap every message is signed with both the new and the old secret, so
the receiver can switch to the new one without losing a message; after it,
with the new one alone. --overlap 0 drops the old secret at once.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				s, secret, err := svc.RotateSecret(cmd.Context(), args[0], overlap, "system:cli")
				if err != nil {
					return webhookProblem(err, "webhook "+args[0])
				}
				return printWebhook(e, s, secret, asJSON)
			})
		},
	}
	cmd.Flags().DurationVar(&overlap, "overlap", webhooks.DefaultOverlap, "how long the old secret still signs (0 to 720h)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// deliveryOut is a delivery as the commands print it.
type deliveryOut struct {
	ID            string          `json:"id"`
	WebhookID     string          `json:"webhook_id"`
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	Subject       string          `json:"subject"`
	Status        webhooks.Status `json:"status"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

func deliveryView(d webhooks.Delivery) deliveryOut {
	out := deliveryOut{ID: d.ID, WebhookID: d.SubscriptionID, EventID: d.EventUUID, EventType: d.EventType, Subject: d.Subject,
		Status: d.Status, Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.Status == webhooks.StatusPending {
		out.NextAttemptAt = optTime(d.NextAttemptAt)
	}
	return out
}

func newWebhookDeliveriesCmd(e env) *cobra.Command {
	var status string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deliveries ID",
		Short: "List a webhook subscription's deliveries, newest first",
		Long:  "List a webhook subscription's deliveries, newest event first. The delivery ID is the webhook-id header receivers see.",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 10000 {
				return usageError{fmt.Errorf("--limit %d is outside 1 to 10000", limit)}
			}
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				list, err := svc.Deliveries(cmd.Context(), args[0], webhooks.Status(status), limit)
				if err != nil {
					return webhookProblem(err, "webhook "+args[0])
				}
				if asJSON {
					enc := json.NewEncoder(e.stdout)
					for _, d := range list {
						if err := enc.Encode(deliveryView(d)); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATUS\tATTEMPTS\tEVENT\tSUBJECT\tNEXT ATTEMPT\tLAST ERROR")
				for _, d := range list {
					next := ""
					if d.Status == webhooks.StatusPending {
						next = d.NextAttemptAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Status, d.Attempts, d.EventType, d.Subject, next, d.LastError)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only deliveries in this state: pending, delivered or dead")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

// attemptOut is an attempt as the commands print it.
type attemptOut struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	Response   string    `json:"response,omitempty"`
	Error      string    `json:"error,omitempty"`
}

func newWebhookAttemptsCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "attempts DELIVERY_ID",
		Short: "List the attempts at sending a delivery, oldest first",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				list, err := svc.Attempts(cmd.Context(), args[0])
				if err != nil {
					return webhookProblem(err, "delivery "+args[0])
				}
				enc := json.NewEncoder(e.stdout)
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				if !asJSON {
					fmt.Fprintln(tw, "AT\tSTATUS\tLATENCY\tERROR\tRESPONSE")
				}
				for _, a := range list {
					v := attemptOut{At: a.At, StatusCode: a.StatusCode, LatencyMS: float64(a.Latency.Microseconds()) / 1000, Response: a.Response, Error: a.Error}
					if asJSON {
						if err := enc.Encode(v); err != nil {
							return err
						}
						continue
					}
					resp := strings.Join(strings.Fields(a.Response), " ")
					if len(resp) > 60 {
						resp = resp[:60] + "…"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", a.At.Format(time.RFC3339), a.StatusCode, a.Latency.Round(time.Millisecond), a.Error, resp)
				}
				if asJSON {
					return nil
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

func newWebhookReplayCmd(e env) *cobra.Command {
	var allDead, asJSON bool
	cmd := &cobra.Command{
		Use:   "replay DELIVERY_ID | replay --all-dead WEBHOOK_ID",
		Short: "Send dead deliveries again",
		Long: `Send a delivery again (a dead one, or a delivered one to send it once
more), or with --all-dead every dead delivery of a subscription. Each gets a
new retry period and keeps its webhook-id, so receivers drop what they have
seen.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withWebhooks(cmd, e, func(svc *webhooks.Service) error {
				n := 1
				var err error
				if allDead {
					n, err = svc.ReplayDead(cmd.Context(), args[0], "system:cli")
					if err != nil {
						return webhookProblem(err, "webhook "+args[0])
					}
				} else if err = svc.Replay(cmd.Context(), args[0], "system:cli"); err != nil {
					return webhookProblem(err, "delivery "+args[0])
				}
				if asJSON {
					return json.NewEncoder(e.stdout).Encode(map[string]int{"replayed": n})
				}
				fmt.Fprintf(e.stdout, "replayed %d deliveries\n", n)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&allDead, "all-dead", false, "replay every dead delivery of the subscription WEBHOOK_ID")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

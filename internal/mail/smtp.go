package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Delivery failures. A Sender's error wraps exactly one of them.
var (
	// ErrPermanent means the mail server refused this mail for good (an SMTP
	// 5xx reply to the recipient or the message, or an unusable address):
	// sending it again cannot succeed.
	ErrPermanent = errors.New("mail refused permanently")
	// ErrTemporary means the mail may go through later: the server was
	// unreachable or slow, answered 4xx, or refused the sender or the
	// credentials (a configuration problem an operator can fix).
	ErrTemporary = errors.New("mail not sent, try again later")
)

// Envelope is a rendered mail ready to hand to a server.
type Envelope struct {
	// ID identifies the mail; the Message-ID header is made from it, so a
	// mail sent again keeps its Message-ID.
	ID string
	// To is the recipient's address; ToName their display name, optional.
	To, ToName string
	Subject    string
	// Text and HTML are the two alternative bodies.
	Text, HTML string
}

// Sender hands mail to a mail server.
type Sender interface {
	// Send delivers e or returns an error wrapping ErrPermanent, if trying
	// again cannot help, or ErrTemporary otherwise.
	Send(ctx context.Context, e Envelope) error
}

var _ Sender = (*SMTPSender)(nil)

// DefaultTimeout bounds connecting to the mail server and each exchange
// with it.
const DefaultTimeout = 10 * time.Second

// SMTPConfig configures an SMTPSender.
type SMTPConfig struct {
	// URL names the server: smtp://[user:pass@]host[:port][?tls=…&auth=…]
	// (port 587 by default) or smtps://…, implicit TLS (port 465 by
	// default). The user and password must be percent-encoded.
	//
	// tls applies to smtp://: "opportunistic" (the default) uses STARTTLS
	// when the server offers it, "required" fails without it, "none" never
	// uses it. The server's certificate is always verified when TLS is used.
	//
	// auth picks the SASL mechanism: "plain", "login", "cram-md5",
	// "scram-sha-1", "scram-sha-256" or "auto" (the default: the strongest
	// the server offers of these). Credentials are never sent in the clear
	// except to a server on localhost.
	URL string
	// From is the sender, "Name <address>" or a bare address.
	From string
	// Timeout bounds connecting and each exchange (default DefaultTimeout).
	Timeout time.Duration
	// TLSConfig overrides the TLS settings, for example to trust a private
	// CA; its ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// HELO is the name this client gives in EHLO (default: the host name).
	HELO string
}

// SMTPSender sends mail through an SMTP server, with one connection per
// mail. It is safe for concurrent use.
type SMTPSender struct {
	host        string
	port        int
	implicitTLS bool
	policy      gomail.TLSPolicy
	auth        []gomail.SMTPAuthType
	user, pass  string
	from        *netmail.Address
	timeout     time.Duration
	tlsConfig   *tls.Config
	helo        string
	redacted    string
}

// NewSMTPSender checks cfg and returns a sender; it does not connect.
// Errors never contain the password.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse's message repeats the URL, password included.
		return nil, errors.New("smtp URL: cannot parse it (percent-encode special characters in the user and password)")
	}
	s := &SMTPSender{host: u.Hostname(), timeout: cfg.Timeout, helo: cfg.HELO, redacted: u.Redacted()}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	switch u.Scheme {
	case "smtp":
		s.port, s.policy = 587, gomail.TLSOpportunistic
	case "smtps":
		s.port, s.implicitTLS, s.policy = 465, true, gomail.NoTLS
	default:
		return nil, fmt.Errorf("smtp URL %s: scheme must be smtp or smtps", s.redacted)
	}
	if s.host == "" {
		return nil, fmt.Errorf("smtp URL %s: no host", s.redacted)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("smtp URL %s: bad port %q", s.redacted, p)
		}
		s.port = n
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("smtp URL %s: unexpected path %q", s.redacted, u.Path)
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	s.auth = []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
	for k, vs := range u.Query() {
		v := strings.ToLower(vs[len(vs)-1])
		switch k {
		case "tls":
			switch {
			case s.implicitTLS && v != "required":
				return nil, fmt.Errorf("smtp URL %s: smtps always uses TLS; use smtp:// with tls=%s", s.redacted, v)
			case s.implicitTLS:
			case v == "required":
				s.policy = gomail.TLSMandatory
			case v == "opportunistic":
				s.policy = gomail.TLSOpportunistic
			case v == "none":
				s.policy = gomail.NoTLS
			default:
				return nil, fmt.Errorf("smtp URL %s: tls=%s: want required, opportunistic or none", s.redacted, v)
			}
		case "auth":
			switch v {
			case "auto":
			case "plain", "login", "cram-md5", "scram-sha-1", "scram-sha-256":
				var t gomail.SMTPAuthType
				_ = t.UnmarshalString(v)
				s.auth = []gomail.SMTPAuthType{t}
			default:
				return nil, fmt.Errorf("smtp URL %s: auth=%s: want plain, login, cram-md5, scram-sha-1, scram-sha-256 or auto", s.redacted, v)
			}
		default:
			return nil, fmt.Errorf("smtp URL %s: unknown parameter %q (known: tls, auth)", s.redacted, k)
		}
	}
	if s.user == "" && s.pass != "" {
		return nil, fmt.Errorf("smtp URL %s: a password without a user", s.redacted)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail from %q: %w", cfg.From, err)
	}
	s.from = from
	if cfg.TLSConfig != nil {
		s.tlsConfig = cfg.TLSConfig.Clone()
	} else {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = s.host
	}
	return s, nil
}

// String describes the server without the password.
func (s *SMTPSender) String() string { return s.redacted }

// Send implements Sender. It connects, authenticates if the URL has a user,
// sends one multipart/alternative message and disconnects. Cancelling ctx
// closes the connection.
func (s *SMTPSender) Send(ctx context.Context, e Envelope) error {
	msg, err := s.message(e)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	// go-mail honours the context only while dialling; closing the
	// connection when ctx ends stops a send in progress too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client, err := s.client(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return s.classify(err)
	}
	return nil
}

// message builds the MIME message.
func (s *SMTPSender) message(e Envelope) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(s.from.Name, s.from.Address); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	to, err := netmail.ParseAddress(e.To)
	if err != nil || to.Name != "" {
		return nil, fmt.Errorf("recipient %q is not a bare mail address", e.To)
	}
	if err := msg.AddToFormat(e.ToName, to.Address); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(e.Subject)
	msg.SetDate()
	if e.ID != "" {
		msg.SetMessageIDWithValue(e.ID + "@" + domainOf(s.from.Address))
	} else {
		msg.SetMessageID()
	}
	// RFC 3834: tell autoresponders not to answer.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, e.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	return msg, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// client configures a go-mail client for one send.
func (s *SMTPSender) client(ctx context.Context) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSPolicy(s.policy),
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(s.dialer(ctx)),
	}
	if s.implicitTLS {
		opts = append(opts, gomail.WithSSL())
	}
	if s.helo != "" {
		opts = append(opts, gomail.WithHELO(s.helo))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithUsername(s.user), gomail.WithPassword(s.pass),
			gomail.WithOpportunisticSMTPAuth(s.auth...))
	}
	return gomail.NewClient(s.host, opts...)
}

// dialer connects (with TLS for smtps) and closes the connection when
// sendCtx ends.
func (s *SMTPSender) dialer(sendCtx context.Context) gomail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.implicitTLS {
			tc := tls.Client(conn, s.tlsConfig)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = conn.Close()
				return nil, err
			}
			conn = tc
		}
		context.AfterFunc(sendCtx, func() { _ = conn.Close() })
		return conn, nil
	}
}

// classify wraps a go-mail error in ErrPermanent or ErrTemporary. Only a 5xx
// reply to the recipient or the message is permanent: a refused sender
// (MAIL FROM) or refused credentials are configuration problems, and mail
// must wait for the operator rather than be dropped.
func (s *SMTPSender) classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch se.Reason {
		case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose, gomail.ErrWriteContent:
			if code >= 500 && code < 600 {
				return fmt.Errorf("%w: smtp %s: %w", ErrPermanent, s.redacted, err)
			}
		case gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return fmt.Errorf("%w: smtp %s: %w", ErrPermanent, s.redacted, err)
		}
	}
	return fmt.Errorf("%w: smtp %s: %w", ErrTemporary, s.redacted, err)
}

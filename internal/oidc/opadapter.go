package oidc

import (
	"slices"
	"strings"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/portvakt/portvakt/internal/accounts"
)

// The provider framework reads authorization requests and tokens through
// its own interfaces; these methods give it our types directly.

var _ op.AuthRequest = (*AuthRequest)(nil)

// GetID implements op.AuthRequest.
func (a *AuthRequest) GetID() string { return a.ID }

// GetACR implements op.AuthRequest.
func (a *AuthRequest) GetACR() string { return a.ACR }

// GetAMR implements op.AuthRequest.
func (a *AuthRequest) GetAMR() []string { return a.AMR }

// GetAudience implements op.AuthRequest: the client, and any resource the
// request named.
func (a *AuthRequest) GetAudience() []string {
	aud := []string{a.ClientID}
	for _, r := range a.Params.Audience {
		if !slices.Contains(aud, r) {
			aud = append(aud, r)
		}
	}
	return aud
}

// GetAuthTime implements op.AuthRequest.
func (a *AuthRequest) GetAuthTime() time.Time { return a.AuthTime }

// GetClientID implements op.AuthRequest.
func (a *AuthRequest) GetClientID() string { return a.ClientID }

// GetCodeChallenge implements op.AuthRequest.
func (a *AuthRequest) GetCodeChallenge() *zoidc.CodeChallenge {
	if a.Params.CodeChallenge == "" {
		return nil
	}
	return &zoidc.CodeChallenge{Challenge: a.Params.CodeChallenge, Method: zoidc.CodeChallengeMethod(a.Params.CodeChallengeMethod)}
}

// GetNonce implements op.AuthRequest.
func (a *AuthRequest) GetNonce() string { return a.Params.Nonce }

// GetRedirectURI implements op.AuthRequest.
func (a *AuthRequest) GetRedirectURI() string { return a.Params.RedirectURI }

// GetResponseType implements op.AuthRequest.
func (a *AuthRequest) GetResponseType() zoidc.ResponseType {
	return zoidc.ResponseType(a.Params.ResponseType)
}

// GetResponseMode implements op.AuthRequest.
func (a *AuthRequest) GetResponseMode() zoidc.ResponseMode {
	return zoidc.ResponseMode(a.Params.ResponseMode)
}

// GetScopes implements op.AuthRequest.
func (a *AuthRequest) GetScopes() []string { return a.Params.Scopes }

// GetState implements op.AuthRequest.
func (a *AuthRequest) GetState() string { return a.Params.State }

// GetSubject implements op.AuthRequest.
func (a *AuthRequest) GetSubject() string { return a.UserID }

// Done implements op.AuthRequest: the person has signed in.
func (a *AuthRequest) Done() bool { return a.SignedIn }

// paramsFrom keeps what Portvakt needs of a parsed authorization request.
func paramsFrom(r *zoidc.AuthRequest) Params {
	p := Params{
		Scopes:              r.Scopes,
		ResponseType:        string(r.ResponseType),
		ResponseMode:        string(r.ResponseMode),
		RedirectURI:         r.RedirectURI,
		State:               r.State,
		Nonce:               r.Nonce,
		CodeChallenge:       r.CodeChallenge,
		CodeChallengeMethod: string(r.CodeChallengeMethod),
		Prompt:              r.Prompt,
		MaxAge:              r.MaxAge,
		LoginHint:           r.LoginHint,
		ACRValues:           r.ACRValues,
	}
	for _, t := range r.UILocales {
		p.UILocales = append(p.UILocales, language.Tag(t).String())
	}
	return p
}

// userinfo fills the standard claims the scopes allow.
func userinfo(info *zoidc.UserInfo, u accounts.User, scopes []string) {
	info.Subject = u.ID
	for _, s := range scopes {
		switch s {
		case zoidc.ScopeProfile:
			info.Name = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
			info.GivenName, info.FamilyName = u.GivenName, u.FamilyName
			if u.Locale != "" {
				info.Locale = zoidc.NewLocale(language.Make(u.Locale))
			}
			info.UpdatedAt = zoidc.FromTime(u.UpdatedAt)
		case zoidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, zoidc.Bool(u.EmailVerified)
		case zoidc.ScopePhone:
			if u.Phone != "" {
				info.PhoneNumber, info.PhoneNumberVerified = u.Phone, false
			}
		}
	}
}

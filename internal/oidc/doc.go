// Package oidc is Portvakt's OpenID Provider and OAuth 2 authorization
// server. For now it publishes the discovery document with the issuer;
// the endpoints it will list are added as they are built.
package oidc

// Package oidc is Portvakt's OpenID Provider and OAuth 2 authorization
// server, built on the op package of github.com/zitadel/oidc with
// Portvakt's storage behind it. It owns authorization requests, codes,
// tokens and consents, and adds what the framework lacks: the hand-off to
// the hosted sign-in page and back, consent for third-party clients,
// RP-initiated logout that ends the browser's session, RFC 9207's iss, and
// a discovery document true to what is served. The pages it shows people
// are rendered by package web (see Pages).
package oidc

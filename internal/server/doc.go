// Package server is Portvakt's HTTP front: it composes the middleware every
// response passes through (request ID and client IP, access log and metrics,
// security headers, request size limit, panic recovery), serves the health
// and metrics endpoints, mounts the surfaces of the domain packages on one
// ServeMux, and shuts down gracefully.
package server

// Package api is Petrel's HTTP API under /api/v1: domains, accounts
// (users and shared mailboxes) and the rights on shared mailboxes, API
// keys, folders, messages (import included), search and replication
// status. openapi.json, served at /api/v1/openapi.json, describes every
// route; a test keeps the two in step.
//
// Every request acts as a principal: the bearer API key's account with
// that account's role (global admin, domain admin of some domains, user),
// a global-admin key, or the local administrator on the data folder's
// unix socket (see local.go). Access is denied unless a rule in auth.go
// allows it.
//
// What it owns: the HTTP surface (paths, JSON, status codes and error
// codes) and who may call what. What it must not touch: storage rules.
// Every change goes through the directory, store.Mailbox or, for
// imported messages, delivery.Batch, the path IMAP APPEND takes, with its
// size limit, disk reserve and quota.
package api

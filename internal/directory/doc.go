// Package directory owns the objects that must exist before any mail does:
// domains (with their aliases), users and shared mailboxes (with their extra
// addresses, quota, language, role and shard), and their password hashes.
//
// It answers "who is this address?" for delivery and "is this password
// right?" for login. It stores no mail and knows no protocol: the store holds
// the mailboxes, keyed by the user ID the directory assigns.
//
// The seed's lesson ("domains and mailboxes must be created before the
// mailboxes are filled with data") is enforced by the callers: delivery and
// import resolve every recipient here first, and nothing is written for an
// address the directory does not know.
package directory

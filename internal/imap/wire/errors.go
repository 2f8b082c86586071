package wire

import "fmt"

// ParseError is a command the server could not accept as sent. The server
// answers it with "Tag BAD [Code] Msg" (an untagged "* BAD" when Tag is
// empty), or with "* BYE [Code] Msg" and closes the connection when Fatal.
//
// After a non-fatal ParseError the Reader is at the start of the next
// command. A Fatal one means the rest of the connection cannot be
// resynchronised, typically a non-synchronizing literal larger than the
// server is willing to read and discard (RFC 7888 sections 4 and 5).
//
// Code TOOBIG on APPEND (a message larger than Limits.MaxAppend) is better
// answered with "NO [TOOBIG]" (RFC 7889 section 4, RFC 9051 section 7.1).
type ParseError struct {
	// Tag of the command, when it could be read.
	Tag string
	// Code is a response code for the reply, "TOOBIG" or "PARSE" or ""
	// (RFC 9051 section 7.1).
	Code string
	// Msg is human-readable text for the reply.
	Msg string
	// Fatal is set when the connection must be closed.
	Fatal bool
}

// Error formats the error as the text of a BAD reply.
func (e *ParseError) Error() string {
	s := e.Msg
	if e.Code != "" {
		s = "[" + e.Code + "] " + s
	}
	if e.Fatal {
		return fmt.Sprintf("fatal: %s", s)
	}
	return s
}

// Response codes a ParseError carries.
const (
	// CodeTooBig is for a line, literal or command over the limits.
	CodeTooBig = "TOOBIG"
	// CodeParse is for a mailbox name or string that is not valid in the
	// connection's encoding.
	CodeParse = "PARSE"
)

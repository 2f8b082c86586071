// Package wire reads IMAP client commands off a connection and turns them
// into typed values, and encodes the low-level pieces of server responses
// (atoms, quoted strings, literals, modified UTF-7 mailbox names).
//
// It implements the client-command grammar of IMAP4rev1 (RFC 3501) and
// IMAP4rev2 (RFC 9051, section 9 "Formal Syntax"), plus the extensions Petrel
// implements: LITERAL+/LITERAL- (RFC 7888), SASL-IR (RFC 4959), ENABLE
// (RFC 5161), CONDSTORE/QRESYNC (RFC 7162), CREATE-SPECIAL-USE (RFC 6154),
// LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), MULTIAPPEND (RFC 3502),
// BINARY (RFC 3516), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), SORT and
// THREAD (RFC 5256), ESORT (RFC 5267), QUOTA (RFC 9208), COMPRESS
// (RFC 4978), ID (RFC 2971), UNSELECT (RFC 3691), UIDPLUS (RFC 4315), MOVE
// (RFC 6851), OBJECTID (RFC 8474), PREVIEW (RFC 8970), SAVEDATE (RFC 8514),
// APPENDLIMIT (RFC 7889) and STATUS=SIZE (RFC 8438).
//
// What it owns: framing of a command (lines and literals, RFC 9051 section
// 4.3), the limits that keep a hostile client from making the server
// allocate (Limits), resynchronisation after a bad command, and the syntax of
// every argument. A Reader calls back into the server only to send the
// "+" continuation request a synchronizing literal needs.
//
// What it must not touch: it writes nothing to the connection itself, knows
// nothing of sessions, states (authenticated, selected), capabilities
// advertised, mailboxes, storage or authentication. Whether a syntactically
// valid command is allowed in the current state is the server's business,
// and so is the meaning of every value it returns.
//
// Malformed input:
//
//   - Every syntax error is a *ParseError that the server answers with
//     "tag BAD [code] msg" (or "* BYE" when Fatal). After a non-fatal error
//     the Reader is at the start of the next command: the rest of the line
//     is skipped, a synchronizing literal it announces is never asked for
//     (so the client does not send it, RFC 9051 section 7.5), and a
//     non-synchronizing one is read and thrown away, up to
//     Limits.MaxDiscard octets; past that the error is Fatal (RFC 7888
//     section 4).
//   - Lines end in CRLF; a bare LF is accepted as a line end, as many
//     servers do. A bare CR inside a line is a syntax error. Empty lines
//     between commands are ignored.
//   - Literal octet counts are exact: CR and LF inside a literal are data.
//     A literal announcement must end its line. NUL is refused in a literal
//     (CHAR8) and accepted only in the literal8 of APPEND (RFC 3516).
//   - Tokens are separated by exactly one space; keywords are
//     case-insensitive; quoted strings may hold 8-bit octets (UTF-8 in
//     IMAP4rev2) but never NUL, CR or LF, and a backslash only before
//     DQUOTE or backslash.
//   - Sizes: a line is at most Limits.MaxLine octets, a literal at most
//     Limits.MaxLiteral, a whole command at most Limits.MaxCommand, an
//     APPEND message at most Limits.MaxAppend (streamed, never held). A
//     literal over its limit is refused before its "+" is sent, so a client
//     announcing gigabytes costs nothing; a non-synchronizing one over
//     Limits.NonSyncLiteral is refused with TOOBIG (LITERAL-, RFC 7888
//     section 5). Search keys nest at most 64 deep.
//   - Mailbox names are returned as sent (MailboxName); their decoding,
//     modified UTF-7 or UTF-8 depending on what the client enabled, is
//     strict: a non-canonical modified UTF-7 name is an error.
package wire

// Package render renders the parts of IMAP FETCH responses from stored
// message metadata (message.Meta), without reading or re-parsing the
// message file:
//
//   - ENVELOPE (RFC 9051 section 7.5.2): AppendEnvelope,
//   - BODY and BODYSTRUCTURE (RFC 9051 section 7.5.2, RFC 3501 section
//     7.4.2): AppendBodyStructure,
//   - the byte range of a body section of the raw message (RFC 9051
//     section 6.4.5): Locate, and the filtering of HEADER.FIELDS and
//     HEADER.FIELDS.NOT: FilterHeader, CachedHeaderFields,
//   - BINARY, BINARY.SIZE (RFC 3516 section 4.2): BinaryPart,
//     DecodedReader, DecodedSize.
//
// The Append functions append to the caller's buffer and do not allocate
// once it has grown: they run for every message of a FETCH 1:* on large
// mailboxes. Strings are encoded with the wire package (quoted when
// possible, literals otherwise).
//
// What the package must not touch: flags, UIDs, sequence numbers, sessions
// and the connection; it does no I/O itself (DecodedReader wraps a reader
// the caller opened on the message file).
//
// # Rendering choices
//
// Like Cyrus (and for consistency whatever the case used in the message),
// media types, subtypes, parameter names and transfer encodings are sent
// uppercased; parameter values, the disposition type and every other
// string are sent as they are stored. Defaults are Dovecot's: a missing
// Content-Transfer-Encoding is "7BIT", a text/plain part without a charset
// parameter gets ("CHARSET" "US-ASCII") (RFC 2046 section 4.1.2), and a
// multipart without any parsed child is shown with one empty text/plain
// child, since IMAP requires at least one.
package render

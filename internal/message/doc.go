// Package message parses an RFC 5322 / MIME message once, at delivery time,
// into the metadata an IMAP server needs to answer FETCH without reading or
// re-parsing the message again:
//
//   - the ENVELOPE of the top-level header (RFC 9051 section 7.5.2),
//   - the MIME structure with the data of BODYSTRUCTURE (RFC 9051 section
//     7.5.2, RFC 2045, RFC 2046, RFC 2183, RFC 3066, RFC 2557, RFC 1864),
//   - the byte offsets of every MIME part (header start, body start, end),
//     so that BODY[1.2.HEADER], BODY[1.2] and friends are simple slices of the
//     stored message,
//   - the raw lines of the top-level header fields clients list folders
//     with (CachedFields, capped at MaxStoredHeader), so that
//     BODY[HEADER.FIELDS (...)] of those fields does not need the message
//     file; the whole header is a byte range of the file,
//   - a short text preview (RFC 8970).
//
// It also owns the compact, versioned binary encoding of that metadata
// (Meta.Marshal, Unmarshal), which is stored next to each message body.
//
// What the package must not touch: it knows nothing about IMAP wire syntax
// (quoting, literals, NIL rendering, default values such as "7BIT" or
// charset US-ASCII are the renderer's job), nothing about databases, blob
// storage or the network. It does no I/O and keeps no global state.
//
// # Robustness
//
// Parse never fails and never panics. Messages on the wire are often
// malformed; the parser always returns best-effort metadata, in the spirit
// of Dovecot's message parser:
//
//   - A line ends at LF; a CR immediately before the LF is part of the line
//     ending. CRLF and bare LF messages give exact offsets; a lone CR is data.
//   - The header ends at the first empty line (which belongs to the header
//     block), or at the first line that is neither a header field
//     ("name:" with a name of printable non-space bytes, optional blanks
//     before the colon) nor a continuation line (starting with SP or HTAB)
//     of a preceding field: that line is the first line of the body. A
//     message without any header therefore has an empty header block and
//     its body is the whole message. A message with no empty line and no
//     other line is all header and has an empty body.
//   - Header values are kept raw: 8-bit bytes, NUL bytes and encoded words
//     are not decoded; only the folding line breaks are removed. Values
//     longer than MaxStoredHeader bytes are cut to that length. For
//     repeated fields the first occurrence wins.
//   - MIME nesting is limited to MaxDepth levels and a message to MaxParts
//     parts, like Dovecot. A multipart or message/rfc822 part deeper than
//     that is a leaf (a multipart without Children; a message/rfc822 whose
//     Message is a header-less text/plain leaf). Once MaxParts parts exist,
//     no more are created and the rest of each enclosing multipart becomes
//     the body of its last child.
//   - A multipart part with no boundary parameter, or in which no boundary
//     line is found, has no Children. Renderers should then do what Dovecot
//     does and emit a single empty text/plain child, as IMAP requires at
//     least one.
//   - A missing close-delimiter makes the last part run to the end of its
//     parent; data after a close-delimiter (the epilogue) and before the
//     first boundary (the preamble) belong to no child.
//   - A syntactically invalid Content-Type yields text/plain (RFC 2045
//     section 5.2); an absent one yields the default of the context
//     (message/rfc822 in multipart/digest, text/plain elsewhere).
//   - Address lists are parsed leniently (see parseAddressList); whatever
//     can be salvaged is returned.
package message

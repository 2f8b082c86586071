// Package search evaluates IMAP SEARCH keys, SORT and THREAD over message
// records.
//
// The server describes each message with a Message (the record kept in the
// database: flags, dates, size, mod-sequence, object IDs) and gives a
// Loader that fetches the parsed metadata (message.Meta, cheap) and the raw
// message (expensive) only when a key needs them. Needs and SortNeeds tell
// in advance how much a command will need, so that the server can load it
// in bulk or not at all.
//
// What it implements:
//
//   - SEARCH keys of RFC 9051 section 6.4.4, with NEW, OLD and RECENT of
//     RFC 3501 (Petrel has no \Recent), MODSEQ (RFC 7162 section 3.1.5),
//     OLDER and YOUNGER (RFC 5032), SAVEDBEFORE, SAVEDON, SAVEDSINCE and
//     SAVEDATESUPPORTED (RFC 8514 section 4.3), EMAILID and THREADID
//     (RFC 8474 section 6) and the saved result "$" (RFC 5182): Compile and
//     Matcher.Match.
//   - SORT (RFC 5256 section 3) with DISPLAYFROM and DISPLAYTO (RFC 5957):
//     Sort, and the base subject of RFC 5256 section 2.1: BaseSubject.
//   - THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 section 4):
//     Thread, and the thread-list wire form of RFC 5256 section 5:
//     AppendThreads.
//   - The compact sequence-set form of ESEARCH results (RFC 4731):
//     AppendNumSet.
//
// What it must not touch: it writes no response (except the thread-list and
// sequence-set fragments above), knows nothing of sessions, mailboxes or
// storage, and does no I/O of its own.
//
// # String matching
//
// String keys match a case-insensitive substring (RFC 9051 section 6.4.4)
// of decoded text:
//
//   - SUBJECT, HEADER: the field value with RFC 2047 encoded words decoded
//     (any charset the golang.org/x/text htmlindex or ianaindex knows;
//     undecodable words stay as they are). FROM, TO, CC, BCC: the addresses
//     of the envelope, each as "display name <mailbox@host>" with the name
//     decoded, joined by ", ", so that both the name and the address match.
//     Raw 8-bit header text that is not valid UTF-8 is read as
//     windows-1252.
//   - BODY: the text of every text/* part (content transfer encoding undone,
//     charset converted to UTF-8; HTML is searched as its text: tags,
//     comments and the content of script, style, title and head dropped,
//     character references decoded, block elements and <br> as line
//     breaks), recursively through multipart and message/rfc822 parts, and
//     the header of every encapsulated message/rfc822. A string matches
//     within one of these texts, never across two. TEXT: BODY and the
//     top-level header, which is searched field by field as
//     "name: value" lines, each value unfolded and decoded as for HEADER
//     (so whatever HEADER or SUBJECT matches, TEXT matches too).
//   - The empty string matches every message for BODY and TEXT; for HEADER
//     it matches when the field exists (RFC 9051 section 6.4.4), and
//     likewise for SUBJECT (a Subject field exists) and FROM, TO, CC, BCC
//     (the field has an address), as Dovecot does.
//
// This text is defined by package fts (fts.Extract, fts.Fold), which the
// full-text index shares: the index narrows a search to the messages whose
// text may match, and Match decides.
//
// Case-insensitivity is Unicode simple case folding: two strings match as
// strings.EqualFold would compare them, rune by rune (so "É" matches "é"
// and the Kelvin sign matches "k", but "ß" does not match "ss" and there is
// no normalization: a precomposed "é" does not match "e" followed by a
// combining accent). This is i;unicode-casemap (RFC 5051) without its
// decomposition step.
//
// Header values come from Meta.Header when the field is one of
// message.CachedFields and the cached header is not truncated, and from the
// raw message otherwise; envelope fields (Subject, Date, the address lists)
// come from Meta.Envelope.
//
// # Dates
//
// BEFORE, ON and SINCE compare the calendar date of the internal date in the
// zone it is stored in; SENTBEFORE, SENTON and SENTSINCE the calendar date
// written in the Date header, in the header's own zone, or the internal date
// when the header is missing or unparseable (as Dovecot does); the SAVED*
// keys the save date, or the internal date for a message without one. Time
// of day and zone are disregarded (RFC 9051 section 6.4.4).
package search

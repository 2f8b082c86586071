package render

import "github.com/petrelmail/petrel/internal/message"

// AppendEnvelope appends env as the ENVELOPE of RFC 9051 section 7.5.2:
//
//	envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
//	           env-reply-to SP env-to SP env-cc SP env-bcc SP
//	           env-in-reply-to SP env-message-id ")"
//
// Absent fields are NIL; an empty address list is NIL, others are
// "(" 1*address ")" with address = "(" addr-name SP addr-adl SP
// addr-mailbox SP addr-host ")". Group markers are sent as stored (RFC 9051
// section 7.5.2: a start marker has a NIL host and the group name as
// mailbox, the end marker is all NIL). Strings are sent raw, as stored,
// quoted when possible and as literals when they hold NUL, CR, LF or, unless
// utf8 is set and the string is valid UTF-8, 8-bit octets (RFC 9051
// section 4.3, RFC 6855 section 3). The utf8 flag tells that the client
// may receive UTF-8 in quoted strings (IMAP4rev2 or UTF8=ACCEPT).
//
// Sender and Reply-To are sent as stored: message.Parse already sets them
// to From when absent. A nil env is sent as an envelope of NILs.
func AppendEnvelope(b []byte, env *message.Envelope, utf8 bool) []byte {
	if env == nil {
		return append(b, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"...)
	}
	b = append(b, '(')
	b = appendNBytes(b, env.Date, utf8)
	b = append(b, ' ')
	b = appendNBytes(b, env.Subject, utf8)
	b = append(b, ' ')
	b = appendAddresses(b, env.From, utf8)
	b = append(b, ' ')
	b = appendAddresses(b, env.Sender, utf8)
	b = append(b, ' ')
	b = appendAddresses(b, env.ReplyTo, utf8)
	b = append(b, ' ')
	b = appendAddresses(b, env.To, utf8)
	b = append(b, ' ')
	b = appendAddresses(b, env.Cc, utf8)
	b = append(b, ' ')
	b = appendAddresses(b, env.Bcc, utf8)
	b = append(b, ' ')
	b = appendNBytes(b, env.InReplyTo, utf8)
	b = append(b, ' ')
	b = appendNBytes(b, env.MessageID, utf8)
	return append(b, ')')
}

// appendAddresses appends an address list of RFC 9051 section 9 (env-from
// and friends): "(" 1*address ")" / nil.
func appendAddresses(b []byte, list []message.Address, utf8 bool) []byte {
	if len(list) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for i := range list {
		a := &list[i]
		b = append(b, '(')
		b = appendNBytes(b, a.Name, utf8)
		b = append(b, ' ')
		b = appendNBytes(b, a.Route, utf8)
		b = append(b, ' ')
		b = appendNBytes(b, a.Mailbox, utf8)
		b = append(b, ' ')
		b = appendNBytes(b, a.Host, utf8)
		b = append(b, ')')
	}
	return append(b, ')')
}

package wire

// Command is one client command (RFC 9051 section 9, command).
type Command struct {
	// Tag is the client's tag, to put on the completion response.
	Tag string
	// Name is the command name uppercased, without "UID": a UID FETCH has
	// Name "FETCH" and UID set.
	Name string
	// UID is set for the UID forms of COPY, MOVE, FETCH, SEARCH, STORE,
	// EXPUNGE, SORT and THREAD (RFC 9051 section 6.4.9).
	UID bool
	// Args holds the arguments, one of the types listed at Args; nil for
	// commands without any: CAPABILITY, NOOP, LOGOUT, STARTTLS,
	// NAMESPACE, IDLE, CHECK, CLOSE, UNSELECT and EXPUNGE.
	Args Args
}

// Args is the arguments of a command: *Authenticate, *Login, *Enable,
// *Select (SELECT, EXAMINE), *Create, *MailboxArg (DELETE, SUBSCRIBE,
// UNSUBSCRIBE, GETQUOTAROOT), *Rename, *List (LIST, LSUB), *Status,
// *Append, *Expunge (UID EXPUNGE), *Search, *Fetch, *Store, *Copy (COPY,
// MOVE), *Sort, *Thread, *GetQuota, *SetQuota, *Compress or *ID.
type Args interface{ isArgs() }

func (*Authenticate) isArgs() {}
func (*Login) isArgs()        {}
func (*Enable) isArgs()       {}
func (*Select) isArgs()       {}
func (*Create) isArgs()       {}
func (*MailboxArg) isArgs()   {}
func (*Rename) isArgs()       {}
func (*List) isArgs()         {}
func (*Status) isArgs()       {}
func (*Append) isArgs()       {}
func (*Expunge) isArgs()      {}
func (*Search) isArgs()       {}
func (*Fetch) isArgs()        {}
func (*Store) isArgs()        {}
func (*Copy) isArgs()         {}
func (*Sort) isArgs()         {}
func (*Thread) isArgs()       {}
func (*GetQuota) isArgs()     {}
func (*SetQuota) isArgs()     {}
func (*Compress) isArgs()     {}
func (*ID) isArgs()           {}

// Authenticate is AUTHENTICATE (RFC 9051 section 6.2.2) with the optional
// initial response of SASL-IR (RFC 4959). Further client responses are read
// with Reader.ReadLine.
type Authenticate struct {
	// Mechanism is the SASL mechanism name, uppercased.
	Mechanism string
	// InitialResponse is the decoded initial response: nil when there is
	// none, empty for "=" (RFC 4959 section 3).
	InitialResponse []byte
}

// Login is LOGIN (RFC 9051 section 6.2.3).
type Login struct {
	// Username is the user name, as sent.
	Username string
	// Password is the password, kept out of logs by the server.
	Password string
}

// Enable is ENABLE (RFC 5161 section 3.1).
type Enable struct {
	// Capabilities are uppercased.
	Capabilities []string
}

// Select is SELECT or EXAMINE (RFC 9051 sections 6.3.2, 6.3.3) with the
// select parameters of RFC 4466 section 2.1 that RFC 7162 defines.
type Select struct {
	// Mailbox is the mailbox to open.
	Mailbox MailboxName
	// CondStore is the (CONDSTORE) parameter (RFC 7162 section 3.1.8).
	CondStore bool
	// QResync is the (QRESYNC ...) parameter (RFC 7162 section 3.2.5),
	// nil when absent.
	QResync *QResync
}

// QResync is the QRESYNC select parameter: (uidvalidity modseq [known-uids
// [(known-sequence-set known-uid-set)]]) (RFC 7162 section 3.2.5).
type QResync struct {
	// UIDValidity is the mailbox's last known UIDVALIDITY.
	UIDValidity uint32
	// ModSeq is the last known mod-sequence.
	ModSeq uint64
	// KnownUIDs is nil when absent.
	KnownUIDs *NumSet
	// KnownSeqs are the message sequence numbers of seq-match-data, nil
	// when absent.
	KnownSeqs *NumSet
	// KnownSeqUIDs are the UIDs those sequence numbers had, nil when
	// absent.
	KnownSeqUIDs *NumSet
}

// Create is CREATE (RFC 9051 section 6.3.4) with the USE parameter of
// CREATE-SPECIAL-USE (RFC 6154 section 3).
type Create struct {
	// Mailbox is the mailbox to create.
	Mailbox MailboxName
	// SpecialUse are the use attributes, like `\Sent`, as sent; nil when
	// the USE parameter is absent.
	SpecialUse []string
}

// MailboxArg is the argument of DELETE, SUBSCRIBE, UNSUBSCRIBE and
// GETQUOTAROOT: a mailbox name.
type MailboxArg struct {
	// Mailbox is the mailbox the command is about.
	Mailbox MailboxName
}

// Rename is RENAME (RFC 9051 section 6.3.6).
type Rename struct {
	// From is the existing mailbox.
	From MailboxName
	// To is its new name.
	To MailboxName
}

// List is LIST (RFC 9051 section 6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS
// RFC 5819) or LSUB (RFC 3501 section 6.3.9, one pattern, no options).
type List struct {
	// Reference is the reference name, may be empty.
	Reference MailboxName
	// Patterns are the mailbox patterns, with "%" and "*" wildcards,
	// encoded like mailbox names.
	Patterns []MailboxName
	// Extended is set when the client used any of the LIST-EXTENDED
	// syntax (selection options, several patterns, return options): the
	// reply then follows RFC 5258.
	Extended bool
	// Select are the selection options.
	Select ListSelect
	// Return are the return options.
	Return ListReturn
}

// ListSelect are the LIST selection options (RFC 5258 section 3.1, RFC
// 6154 section 5.1).
type ListSelect struct {
	// Subscribed lists subscribed mailboxes only.
	Subscribed bool
	// Remote includes remote mailboxes (RFC 5258 section 3.1).
	Remote bool
	// RecursiveMatch lists parents of matching mailboxes too, with
	// CHILDINFO.
	RecursiveMatch bool
	// SpecialUse lists special-use mailboxes only (RFC 6154 section 5.1).
	SpecialUse bool
}

// ListReturn are the LIST return options (RFC 5258 section 3.2, RFC 5819,
// RFC 6154 section 5.1, RFC 9051 section 6.3.9).
type ListReturn struct {
	// Subscribed asks for the \Subscribed attribute.
	Subscribed bool
	// Children asks for \HasChildren or \HasNoChildren.
	Children bool
	// SpecialUse asks for special-use attributes.
	SpecialUse bool
	// Status are the STATUS items to return for each mailbox (RFC 5819),
	// nil when not asked.
	Status []string
}

// Status is STATUS (RFC 9051 section 6.3.11).
type Status struct {
	// Mailbox is the mailbox asked about.
	Mailbox MailboxName
	// Items are the status-att, uppercased, in the client's order.
	Items []string
}

// statusItems are the status-att Petrel knows: RFC 9051 section 6.3.11,
// RECENT of RFC 3501, HIGHESTMODSEQ of RFC 7162 section 3.1.7, APPENDLIMIT of
// RFC 7889, MAILBOXID of RFC 8474 section 4, DELETED-STORAGE of RFC 9208
// section 4.2.1.
var statusItems = map[string]bool{
	"MESSAGES": true, "UIDNEXT": true, "UIDVALIDITY": true, "UNSEEN": true,
	"DELETED": true, "DELETED-STORAGE": true, "SIZE": true, "RECENT": true, "HIGHESTMODSEQ": true,
	"APPENDLIMIT": true, "MAILBOXID": true,
}

// Expunge is UID EXPUNGE (RFC 4315 section 2.1, RFC 9051 section 6.4.9).
type Expunge struct {
	// UIDs are the messages to expunge, if deleted.
	UIDs NumSet
}

// Copy is COPY or MOVE (RFC 9051 sections 6.4.7, 6.4.8; RFC 6851).
type Copy struct {
	// Set are the messages, by sequence number or by UID.
	Set NumSet
	// Mailbox is the destination.
	Mailbox MailboxName
}

// StoreOp is how STORE changes the flags.
type StoreOp int

// The STORE operations (RFC 9051 section 6.4.6).
const (
	StoreReplace StoreOp = iota // FLAGS
	StoreAdd                    // +FLAGS
	StoreRemove                 // -FLAGS
)

// Store is STORE (RFC 9051 section 6.4.6) with the UNCHANGEDSINCE modifier
// (RFC 7162 section 3.1.3).
type Store struct {
	// Set are the messages, by sequence number or by UID.
	Set NumSet
	// Op says whether Flags replace, are added to or removed from the
	// message's.
	Op StoreOp
	// Silent is set for FLAGS.SILENT: no untagged FETCH in reply.
	Silent bool
	// Flags are as in a flag-list, system flags in canonical case.
	Flags []string
	// UnchangedSince is nil when absent; it may be 0.
	UnchangedSince *uint64
}

// GetQuota is GETQUOTA (RFC 9208 section 4.2).
type GetQuota struct {
	// Root is the quota root name.
	Root string
}

// SetQuota is SETQUOTA (RFC 9208 section 4.4).
type SetQuota struct {
	// Root is the quota root name.
	Root string
	// Limits are the new limits; resources not listed have none.
	Limits []QuotaLimit
}

// QuotaLimit is one resource limit of SETQUOTA.
type QuotaLimit struct {
	// Resource is uppercased: STORAGE, MESSAGE, MAILBOX, ...
	Resource string
	// Limit is in the resource's unit (KiB for STORAGE).
	Limit int64
}

// Compress is COMPRESS (RFC 4978 section 3).
type Compress struct {
	// Mechanism is uppercased; DEFLATE is the only one defined.
	Mechanism string
}

// ID is ID (RFC 2971 section 3.1).
type ID struct {
	// Params are the field-value pairs; nil for NIL.
	Params []IDParam
}

// IDParam is one field-value pair of ID.
type IDParam struct {
	// Field is the field name, like "name" or "version".
	Field string
	// Value is nil for NIL.
	Value *string
}

// commandParsers parse the arguments of each command after its name; they
// return nil Args for commands without arguments.
var commandParsers map[string]func(p *parser, cmd *Command) Args

func init() {
	none := func(p *parser, cmd *Command) Args { return nil }
	mailboxArg := func(p *parser, cmd *Command) Args {
		p.xsp()
		return &MailboxArg{Mailbox: p.xmailbox()}
	}
	commandParsers = map[string]func(p *parser, cmd *Command) Args{
		// RFC 9051 section 6.1: any state.
		"CAPABILITY": none,
		"NOOP":       none,
		"LOGOUT":     none,
		// Not authenticated, RFC 9051 section 6.2.
		"STARTTLS":     none,
		"AUTHENTICATE": (*parser).xauthenticate,
		"LOGIN":        (*parser).xlogin,
		// Authenticated, RFC 9051 section 6.3.
		"ENABLE":       (*parser).xenable,
		"SELECT":       (*parser).xselect,
		"EXAMINE":      (*parser).xselect,
		"CREATE":       (*parser).xcreate,
		"DELETE":       mailboxArg,
		"RENAME":       (*parser).xrename,
		"SUBSCRIBE":    mailboxArg,
		"UNSUBSCRIBE":  mailboxArg,
		"LIST":         (*parser).xlist,
		"LSUB":         (*parser).xlsub,
		"NAMESPACE":    none,
		"STATUS":       (*parser).xstatus,
		"APPEND":       (*parser).xappend,
		"IDLE":         none,
		"GETQUOTA":     (*parser).xgetquota,
		"GETQUOTAROOT": mailboxArg,
		"SETQUOTA":     (*parser).xsetquota,
		"COMPRESS":     (*parser).xcompress,
		"ID":           (*parser).xid,
		// Selected, RFC 9051 section 6.4.
		"CHECK":    none,
		"CLOSE":    none,
		"UNSELECT": none,
		"EXPUNGE":  (*parser).xexpunge,
		"SEARCH":   (*parser).xsearch,
		"FETCH":    (*parser).xfetch,
		"STORE":    (*parser).xstore,
		"COPY":     (*parser).xcopy,
		"MOVE":     (*parser).xcopy,
		"SORT":     (*parser).xsort,
		"THREAD":   (*parser).xthread,
	}
	initKeywords()
}

// uidCommands are the commands with a UID form (RFC 9051 section 6.4.9,
// RFC 4315, RFC 6851, RFC 5256).
var uidCommands = map[string]bool{
	"COPY": true, "MOVE": true, "FETCH": true, "SEARCH": true, "STORE": true,
	"EXPUNGE": true, "SORT": true, "THREAD": true,
}

// xcommand parses a command: tag SP name [SP args] (RFC 9051 section 9).
func (p *parser) xcommand(cmd *Command) {
	cmd.Tag = p.xtag()
	p.tag = cmd.Tag
	p.xsp()
	cmd.Name = p.xkeyword("command name")
	if cmd.Name == "UID" {
		p.xsp()
		cmd.Name = p.xkeyword("command name")
		cmd.UID = true
		if !uidCommands[cmd.Name] {
			p.xerrorf("", "unknown command UID %s", cmd.Name)
		}
	}
	parse, ok := commandParsers[cmd.Name]
	if !ok {
		p.xerrorf("", "unknown command %s", cmd.Name)
	}
	cmd.Args = parse(p, cmd)
	if _, ok := cmd.Args.(*Append); ok {
		// The messages are read by Append.Next.
		return
	}
	p.xend()
}

func (p *parser) xauthenticate(cmd *Command) Args {
	p.xsp()
	a := &Authenticate{Mechanism: p.xkeyword("mechanism")}
	if p.takeByte(' ') {
		// initial-resp = (base64 / "="), RFC 4959 section 7.
		a.InitialResponse = p.xbase64(string(p.xspan(&base64Char, "initial response")))
	}
	return a
}

var base64Char [256]bool

func init() {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
		base64Char[c] = true
	}
}

func (p *parser) xlogin(cmd *Command) Args {
	p.xsp()
	l := &Login{Username: p.xastring()}
	p.xsp()
	l.Password = p.xastring()
	return l
}

func (p *parser) xenable(cmd *Command) Args {
	e := &Enable{}
	p.xsp()
	e.Capabilities = append(e.Capabilities, p.xkeyword("capability"))
	for p.takeByte(' ') {
		e.Capabilities = append(e.Capabilities, p.xkeyword("capability"))
	}
	return e
}

func (p *parser) xselect(cmd *Command) Args {
	p.xsp()
	s := &Select{Mailbox: p.xmailbox()}
	if !p.takeByte(' ') {
		return s
	}
	// select-params = SP "(" select-param *(SP select-param) ")", RFC 4466
	// section 2.1.
	p.xbyte('(')
	for i := 0; ; i++ {
		if i > 0 {
			p.xsp()
		}
		switch w := p.xkeyword("select parameter"); w {
		case "CONDSTORE":
			s.CondStore = true
		case "QRESYNC":
			if s.QResync != nil {
				p.xerrorf("", "duplicate QRESYNC")
			}
			s.QResync = p.xqresync()
		default:
			p.xerrorf("", "unknown select parameter %s", w)
		}
		if p.takeByte(')') {
			return s
		}
	}
}

// xqresync reads the QRESYNC parameter after its name (RFC 7162 section 7):
// "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
// [SP seq-match-data] ")"; seq-match-data = "(" known-sequence-set SP
// known-uid-set ")".
func (p *parser) xqresync() *QResync {
	q := &QResync{}
	p.xsp()
	p.xbyte('(')
	q.UIDValidity = p.xnznumber()
	p.xsp()
	q.ModSeq = p.xmodSeq(false)
	if p.takeByte(' ') {
		if p.peek() != '(' {
			set := p.xnumSet()
			q.KnownUIDs = &set
			if !p.takeByte(' ') {
				p.xbyte(')')
				return q
			}
		}
		p.xbyte('(')
		seqs := p.xnumSet()
		p.xsp()
		uids := p.xnumSet()
		p.xbyte(')')
		q.KnownSeqs, q.KnownSeqUIDs = &seqs, &uids
	}
	p.xbyte(')')
	return q
}

// xmodSeq reads a mod-sequence-value (1 and up) or, with zero, a
// mod-sequence-valzer (RFC 7162 section 7): 63-bit.
func (p *parser) xmodSeq(zero bool) uint64 {
	n := uint64(p.xnumber64())
	if n == 0 && !zero {
		p.xerrorf("", "mod-sequence must not be zero")
	}
	return n
}

func (p *parser) xcreate(cmd *Command) Args {
	p.xsp()
	c := &Create{Mailbox: p.xmailbox()}
	if !p.takeByte(' ') {
		return c
	}
	// create-params, RFC 4466 section 2.2; USE, RFC 6154 section 6.
	p.xbyte('(')
	for i := 0; ; i++ {
		if i > 0 {
			p.xsp()
		}
		switch w := p.xkeyword("create parameter"); w {
		case "USE":
			if c.SpecialUse != nil {
				p.xerrorf("", "duplicate USE")
			}
			p.xsp()
			p.xbyte('(')
			c.SpecialUse = []string{}
			for !p.takeByte(')') {
				if len(c.SpecialUse) > 0 {
					p.xsp()
				}
				p.xbyte('\\')
				c.SpecialUse = append(c.SpecialUse, `\`+p.xatom("use attribute"))
			}
		default:
			p.xerrorf("", "unknown create parameter %s", w)
		}
		if p.takeByte(')') {
			return c
		}
	}
}

func (p *parser) xrename(cmd *Command) Args {
	p.xsp()
	r := &Rename{From: p.xmailbox()}
	p.xsp()
	r.To = p.xmailbox()
	return r
}

// xlist reads LIST (RFC 5258 section 6):
//
//	list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
//	       [SP list-return-opts]
func (p *parser) xlist(cmd *Command) Args {
	l := &List{}
	p.xsp()
	if p.takeByte('(') {
		l.Extended = true
		base := false
		for i := 0; !p.takeByte(')'); i++ {
			if i > 0 {
				p.xsp()
			}
			switch w := p.xkeyword("selection option"); w {
			case "SUBSCRIBED":
				l.Select.Subscribed, base = true, true
			case "REMOTE":
				l.Select.Remote = true
			case "RECURSIVEMATCH":
				l.Select.RecursiveMatch = true
			case "SPECIAL-USE":
				l.Select.SpecialUse, base = true, true
			default:
				// RFC 5258 section 3: unrecognised selection options
				// are a BAD.
				p.xerrorf("", "unknown LIST selection option %s", w)
			}
		}
		// RFC 5258 section 3.1: RECURSIVEMATCH needs a base option.
		if l.Select.RecursiveMatch && !base {
			p.xerrorf("", "RECURSIVEMATCH without a selection option it modifies")
		}
		p.xsp()
	}
	l.Reference = p.xmailbox()
	p.xsp()
	if p.takeByte('(') {
		l.Extended = true
		l.Patterns = append(l.Patterns, p.xlistMailbox())
		for p.takeByte(' ') {
			l.Patterns = append(l.Patterns, p.xlistMailbox())
		}
		p.xbyte(')')
	} else {
		l.Patterns = append(l.Patterns, p.xlistMailbox())
	}
	if p.takeByte(' ') {
		l.Extended = true
		p.xtake("RETURN")
		p.xsp()
		p.xbyte('(')
		for i := 0; !p.takeByte(')'); i++ {
			if i > 0 {
				p.xsp()
			}
			switch w := p.xkeyword("return option"); w {
			case "SUBSCRIBED":
				l.Return.Subscribed = true
			case "CHILDREN":
				l.Return.Children = true
			case "SPECIAL-USE":
				l.Return.SpecialUse = true
			case "STATUS":
				// RFC 5819 section 2.
				p.xsp()
				l.Return.Status = p.xstatusItems()
			default:
				p.xerrorf("", "unknown LIST return option %s", w)
			}
		}
	}
	return l
}

// xlsub reads LSUB (RFC 3501 section 6.3.9): "LSUB" SP mailbox SP
// list-mailbox.
func (p *parser) xlsub(cmd *Command) Args {
	l := &List{}
	p.xsp()
	l.Reference = p.xmailbox()
	p.xsp()
	l.Patterns = []MailboxName{p.xlistMailbox()}
	return l
}

func (p *parser) xstatus(cmd *Command) Args {
	p.xsp()
	s := &Status{Mailbox: p.xmailbox()}
	p.xsp()
	s.Items = p.xstatusItems()
	return s
}

// xstatusItems reads "(" status-att *(SP status-att) ")".
func (p *parser) xstatusItems() []string {
	p.xbyte('(')
	var items []string
	for {
		w := p.xkeyword("status item")
		if !statusItems[w] {
			p.xerrorf("", "unknown status item %s", w)
		}
		items = append(items, w)
		if p.takeByte(')') {
			return items
		}
		p.xsp()
	}
}

// xappend reads APPEND up to its mailbox; Append.Next reads the messages.
func (p *parser) xappend(cmd *Command) Args {
	p.xsp()
	a := &Append{Mailbox: p.xmailbox(), p: p}
	if p.atEnd() {
		p.xerrorf("", "APPEND without a message")
	}
	p.r.pending = a
	return a
}

// xappendMessage reads the options and literal announcement of one APPEND
// message (RFC 3502 section 6.3.11, RFC 3516 section 4.3):
//
//	append-message = append-opts SP append-data
//	append-opts    = [SP flag-list] [SP date-time]
//	append-data    = literal / literal8 / utf8-literal
//	utf8-literal   = "UTF8" SP "(" literal8 ")"   ; RFC 6855 section 4
func (p *parser) xappendMessage(a *Append) *AppendMessage {
	m := &AppendMessage{a: a}
	p.xsp()
	if p.peek() == '(' {
		m.Flags = p.xflagList()
		p.xsp()
	}
	if p.peek() == '"' {
		m.Date = p.xdateTime()
		p.xsp()
	}
	if p.take("UTF8 (") {
		m.UTF8 = true
		if p.peek() != '~' {
			p.xexpected("literal8")
		}
	}
	t := p.trailer
	if c := p.peek(); c != '{' && c != '~' || !t.ok || t.start != p.pos {
		p.xexpected("message literal")
	}
	p.xliteralCheck(t, p.r.limits.MaxAppend, "message")
	p.trailer = trailer{}
	p.pos = len(p.line)
	m.Binary, m.Size, m.Sync, m.remaining = t.binary, t.n, t.sync, t.n
	m.Body = m
	return m
}

func (p *parser) xexpunge(cmd *Command) Args {
	if !cmd.UID {
		return nil
	}
	p.xsp()
	return &Expunge{UIDs: p.xnumSet()}
}

func (p *parser) xcopy(cmd *Command) Args {
	p.xsp()
	c := &Copy{Set: p.xnumSet()}
	p.xsp()
	c.Mailbox = p.xmailbox()
	return c
}

// xstore reads STORE (RFC 9051 section 9, RFC 7162 section 7):
//
//	store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
//	store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
//	                  (flag-list / (flag *(SP flag)))
func (p *parser) xstore(cmd *Command) Args {
	p.xsp()
	s := &Store{Set: p.xnumSet()}
	p.xsp()
	if p.takeByte('(') {
		// store-modifiers, RFC 4466 section 2.5.
		for i := 0; !p.takeByte(')'); i++ {
			if i > 0 {
				p.xsp()
			}
			switch w := p.xkeyword("store modifier"); w {
			case "UNCHANGEDSINCE":
				p.xsp()
				n := p.xmodSeq(true)
				s.UnchangedSince = &n
			default:
				p.xerrorf("", "unknown store modifier %s", w)
			}
		}
		p.xsp()
	}
	switch {
	case p.takeByte('+'):
		s.Op = StoreAdd
	case p.takeByte('-'):
		s.Op = StoreRemove
	}
	switch w := p.xkeyword("FLAGS"); w {
	case "FLAGS":
	case "FLAGS.SILENT":
		s.Silent = true
	default:
		p.xexpected("FLAGS")
	}
	p.xsp()
	s.Flags = p.xstoreFlags()
	return s
}

func (p *parser) xgetquota(cmd *Command) Args {
	p.xsp()
	return &GetQuota{Root: p.xastring()}
}

// xsetquota reads SETQUOTA (RFC 9208 section 9): "SETQUOTA" SP
// quota-root-name SP setquota-list; setquota-list = "(" [setquota-resource
// *(SP setquota-resource)] ")".
func (p *parser) xsetquota(cmd *Command) Args {
	p.xsp()
	s := &SetQuota{Root: p.xastring()}
	p.xsp()
	p.xbyte('(')
	for i := 0; !p.takeByte(')'); i++ {
		if i > 0 {
			p.xsp()
		}
		l := QuotaLimit{Resource: p.xkeyword("resource name")}
		p.xsp()
		l.Limit = p.xnumber64()
		s.Limits = append(s.Limits, l)
	}
	return s
}

func (p *parser) xcompress(cmd *Command) Args {
	p.xsp()
	return &Compress{Mechanism: p.xkeyword("compression mechanism")}
}

// xid reads ID (RFC 2971 section 4): "ID" SP ("(" *(string SP nstring) ")"
// / "NIL"). The limits of section 3.3 (30 pairs, 30-octet fields,
// 1024-octet values) bind clients; they are enforced here too.
func (p *parser) xid(cmd *Command) Args {
	p.xsp()
	id := &ID{}
	if p.isNil() {
		p.pos += 3
		return id
	}
	p.xbyte('(')
	id.Params = []IDParam{}
	for i := 0; !p.takeByte(')'); i++ {
		if i > 0 {
			p.xsp()
		}
		if i >= 30 {
			p.xerrorf("", "more than 30 ID field-value pairs")
		}
		f := p.xstring()
		if len(f) > 30 {
			p.xerrorf("", "ID field longer than 30 octets")
		}
		p.xsp()
		prm := IDParam{Field: f}
		if v, ok := p.xnstring(); ok {
			if len(v) > 1024 {
				p.xerrorf("", "ID value longer than 1024 octets")
			}
			prm.Value = &v
		}
		id.Params = append(id.Params, prm)
	}
	return id
}

package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/throttle"
)

// Prefix is where the API lives on the HTTP listener.
const Prefix = "/api/v1"

// maxJSONBody bounds the JSON body of a request.
const maxJSONBody = 1 << 20

// Options are what the API serves and with what.
type Options struct {
	Directory *directory.Directory
	Store     *store.Store
	// Pipeline is the delivery pipeline: imports go through its Batch,
	// as IMAP APPEND does.
	Pipeline *delivery.Pipeline
	// Replication answers the replication endpoints and narrows search;
	// nil makes the replication endpoints answer 503 and search read
	// every message.
	Replication Replication
	// Throttle counts failed authentications (shared with IMAP); nil
	// throttles nothing.
	Throttle *throttle.Throttle
	Log      *slog.Logger
}

// API is the HTTP API. It is an http.Handler for the paths under Prefix.
type API struct {
	dir      *directory.Directory
	st       *store.Store
	pipeline *delivery.Pipeline
	repl     Replication
	throttle *throttle.Throttle
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []route
}

// route is one operation of the API.
type route struct {
	Method string
	Path   string // a net/http pattern path, under Prefix
	// Public routes need no key.
	Public bool
	handle func(*request) error
}

// request is one request being served.
type request struct {
	w http.ResponseWriter
	r *http.Request
	p *principal // nil on public routes without a key
}

// New makes the API.
func New(opts Options) *API {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{dir: opts.Directory, st: opts.Store, pipeline: opts.Pipeline, repl: opts.Replication,
		throttle: opts.Throttle, log: log, mux: http.NewServeMux()}
	a.routes = a.routeTable()
	for _, rt := range a.routes {
		a.mux.Handle(rt.Method+" "+rt.Path, a.wrap(rt))
	}
	return a
}

// routeTable lists every operation. openapi.json describes each one
// (TestOpenAPIMatchesRoutes).
func (a *API) routeTable() []route {
	const u = Prefix + "/users/{address}"
	const msgs = u + "/folders/{folder}/messages"
	return []route{
		{"GET", Prefix + "/openapi.json", true, a.openAPI},
		{"GET", Prefix + "/me", false, a.me},

		{"POST", Prefix + "/domains", false, a.createDomain},
		{"GET", Prefix + "/domains", false, a.listDomains},
		{"GET", Prefix + "/domains/{domain}", false, a.getDomain},
		{"PATCH", Prefix + "/domains/{domain}", false, a.patchDomain},
		{"DELETE", Prefix + "/domains/{domain}", false, a.deleteDomain},
		{"PUT", Prefix + "/domains/{domain}/aliases/{alias}", false, a.addDomainAlias},
		{"DELETE", Prefix + "/domains/{domain}/aliases/{alias}", false, a.removeDomainAlias},

		{"POST", Prefix + "/domains/{domain}/users", false, a.createUser},
		{"GET", Prefix + "/domains/{domain}/users", false, a.listDomainUsers},
		{"GET", Prefix + "/users", false, a.listUsers},
		{"GET", u, false, a.getUser},
		{"PATCH", u, false, a.patchUser},
		{"DELETE", u, false, a.deleteUser},
		{"PUT", u + "/aliases/{alias}", false, a.addUserAlias},
		{"DELETE", u + "/aliases/{alias}", false, a.removeUserAlias},
		{"GET", u + "/grants", false, a.listGrants},
		{"PUT", u + "/grants/{grantee}", false, a.setGrant},
		{"DELETE", u + "/grants/{grantee}", false, a.removeGrant},
		{"GET", u + "/shared", false, a.listShared},

		{"POST", u + "/keys", false, a.createUserKey},
		{"GET", u + "/keys", false, a.listUserKeys},
		{"PATCH", u + "/keys/{id}", false, a.patchUserKey},
		{"DELETE", u + "/keys/{id}", false, a.revokeUserKey},
		{"POST", Prefix + "/keys", false, a.createGlobalKey},
		{"GET", Prefix + "/keys", false, a.listGlobalKeys},
		{"GET", Prefix + "/keys/{id}", false, a.getKey},
		{"PATCH", Prefix + "/keys/{id}", false, a.patchKey},
		{"DELETE", Prefix + "/keys/{id}", false, a.revokeKey},

		{"GET", u + "/folders", false, a.listFolders},
		{"POST", u + "/folders", false, a.createFolder},
		{"GET", u + "/folders/{folder}", false, a.getFolder},
		{"PATCH", u + "/folders/{folder}", false, a.patchFolder},
		{"DELETE", u + "/folders/{folder}", false, a.deleteFolder},

		{"GET", msgs, false, a.listMessages},
		{"POST", msgs, false, a.importMessage},
		{"GET", msgs + "/{uid}", false, a.getMessage},
		{"PATCH", msgs + "/{uid}", false, a.patchMessage},
		{"DELETE", msgs + "/{uid}", false, a.deleteMessage},
		{"GET", msgs + "/{uid}/raw", false, a.rawMessage},
		{"POST", msgs + "/{uid}/move", false, a.moveMessage},

		{"GET", u + "/search", false, a.search},

		{"GET", Prefix + "/replication/status", false, a.replicationStatus},
		{"GET", Prefix + "/replication/progress", false, a.replicationProgress},
		{"POST", Prefix + "/replication/requeue", false, a.replicationRequeue},
		{"POST", Prefix + "/replication/reindex", false, a.replicationReindex},
	}
}

// principalKey carries the principal of requests made on the local socket.
type principalKey struct{}

// Local returns the handler of the data folder's unix socket: every
// request acts as the global administrator, without a key. Only the
// socket's listener (ListenLocal, which checks the peer's user) may
// serve it.
func (a *API) Local() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, localAdmin)))
	})
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	pattern := "unmatched"
	defer func() {
		d := time.Since(start)
		metricRequest(pattern, sw.status, d)
		a.log.Info("api", "method", r.Method, "route", pattern, "status", sw.status, "ms", d.Milliseconds(),
			"principal", sw.principal, "remote", r.RemoteAddr)
	}()
	if e := checkPath(r.URL.EscapedPath()); e != nil {
		writeError(sw, e)
		return
	}
	if _, pat := a.mux.Handler(r); pat != "" {
		pattern = pat
		a.mux.ServeHTTP(sw, r)
		return
	}
	// No route: 405 when the path exists with another method.
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := a.mux.Handler(probe); pat != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		sw.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(sw, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed here (allowed: %s)",
			r.Method, strings.Join(allowed, ", ")))
		return
	}
	writeError(sw, errorf(http.StatusNotFound, CodeNotFound, "no such API route (see %s/openapi.json)", Prefix))
}

// checkPath refuses paths that a file-minded client or proxy could read
// differently from the router: empty segments ("//", a trailing slash),
// "." and ".." segments, also when percent-encoded or inside an encoded
// slash, control characters and backslashes.
func checkPath(escaped string) *Error {
	bad := func(why string) *Error {
		return errorf(http.StatusBadRequest, CodeBadPath, "bad path: %s", why)
	}
	if !strings.HasPrefix(escaped, "/") {
		return bad("not absolute")
	}
	for _, seg := range strings.Split(escaped[1:], "/") {
		if seg == "" {
			return bad("empty segment")
		}
		un, err := url.PathUnescape(seg)
		if err != nil {
			return bad("malformed percent-encoding")
		}
		for _, part := range strings.Split(un, "/") {
			if part == "" || part == "." || part == ".." {
				return bad(`"." or ".." or an empty name`)
			}
		}
		if strings.ContainsFunc(un, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
			return bad("control character or backslash")
		}
	}
	return nil
}

// wrap makes the handler of a route: authentication, then the operation.
func (a *API) wrap(rt route) http.Handler {
	var wildcards []string
	for _, seg := range strings.Split(rt.Path, "/") {
		if strings.HasPrefix(seg, "{") {
			wildcards = append(wildcards, strings.Trim(seg, "{}."))
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := &request{w: w, r: r}
		if p, ok := r.Context().Value(principalKey{}).(*principal); ok {
			rq.p = p
		} else if !rt.Public {
			p, e := a.authenticate(r)
			if e != nil {
				writeError(w, e)
				return
			}
			rq.p = p
		}
		if sw, ok := w.(*statusWriter); ok && rq.p != nil {
			sw.principal = rq.p.label()
		}
		// An encoded slash is a hierarchy delimiter in a folder name; in
		// any other value it is a trick.
		for _, name := range wildcards {
			if name != "folder" && strings.Contains(r.PathValue(name), "/") {
				writeError(w, errorf(http.StatusBadRequest, CodeBadPath, "bad path: %q may not contain a slash", name))
				return
			}
		}
		if err := rt.handle(rq); err != nil {
			a.fail(rq, err)
		}
	})
}

// fail answers a request with err's API error.
func (a *API) fail(rq *request, err error) {
	e, known := apiError(err)
	if !known {
		a.log.Error("api request failed", "method", rq.r.Method, "path", rq.r.URL.Path, "err", err)
	}
	writeError(rq.w, e)
}

// statusWriter records the status of a response, for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status    int
	principal string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom lets io.Copy of a message file reach the connection's
// ReadFrom (sendfile).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func (rq *request) json(status int, v any) error {
	writeJSON(rq.w, status, v)
	return nil
}

func (rq *request) noContent() error {
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// decode reads the request's JSON body into v: it must be declared as
// JSON, at most maxJSONBody bytes, one object with only known fields.
func (rq *request) decode(v any) error {
	ct := rq.r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, CodeMediaType, "the body must be application/json, not %q", ct)
	}
	body := http.MaxBytesReader(rq.w, rq.r.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the JSON body is over %d bytes", maxJSONBody)
		}
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "malformed JSON body: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "malformed JSON body: more than one value")
	}
	return nil
}

// jsonErrorText words a decoding error without Go type names.
func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return "field " + strconv.Quote(te.Field) + " has the wrong type"
		}
		return "a JSON object was expected"
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return strings.TrimPrefix(msg, "json: ")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// me answers GET /me.
func (a *API) me(rq *request) error {
	p := rq.p
	out := Me{Role: string(p.role()), KeyID: p.keyID, Local: p.local}
	if p.user.ID != 0 {
		out.Address = p.user.Address
		if !p.global {
			out.AdminDomains = p.user.AdminDomains
		}
	}
	return rq.json(http.StatusOK, out)
}

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Client calls the API: a running server's over its local socket
// (LocalClient), any server's over HTTP with a key, or an API served in
// this process (HandlerClient). Failed calls return *Error.
type Client struct {
	http *http.Client
	base string
	key  string
}

// NewClient calls the API at base ("http://127.0.0.1:8080") with key.
func NewClient(base, key string) *Client {
	return &Client{http: &http.Client{}, base: strings.TrimSuffix(base, "/"), key: key}
}

// LocalClient calls the server running on dataDir over its socket, as
// the local administrator.
func LocalClient(dataDir string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return DialLocal(dataDir) },
	}
	return &Client{http: &http.Client{Transport: tr}, base: "http://petrel"}
}

// HandlerClient calls h in this process (API.Local for the command line
// on a data folder no server runs on).
func HandlerClient(h http.Handler) *Client {
	return &Client{http: &http.Client{Transport: handlerTransport{h}}, base: "http://petrel"}
}

// handlerTransport serves requests with a handler, in memory.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{StatusCode: rec.status, Status: http.StatusText(rec.status), Header: rec.header,
		Body: io.NopCloser(&rec.body), ContentLength: int64(rec.body.Len()), Request: req,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// Path joins path segments under Prefix, escaping each ("a/b" in a folder
// name becomes a%2Fb).
func Path(segments ...string) string {
	var b strings.Builder
	b.WriteString(Prefix)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// Do calls method path (from Path, with a query if any) with in as its
// JSON body (nil: none) and decodes the answer into out (nil: ignored).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// Send calls method path with a raw body of the given content type.
func (c *Client) Send(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	return c.send(req, out)
}

func (c *Client) send(req *http.Request, out any) error {
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error *Error `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == nil {
			return &Error{Status: resp.StatusCode, Code: CodeInternal, Message: fmt.Sprintf("HTTP %s", resp.Status)}
		}
		e.Error.Status = resp.StatusCode
		return e.Error
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

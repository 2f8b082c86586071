package fts

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// HTMLText reduces an HTML document to the text a reader sees, as BODY
// searches it: tags and comments are removed, the content of script,
// style and title elements and of the head is dropped, character
// references are decoded, and block-level elements and <br> become line
// breaks. Nothing else is collapsed: white space is kept as written (the
// HTML tokenizer turns CRLF and CR into LF).
func HTMLText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s) / 2)
	skip := ""      // raw-text element whose content is dropped
	inHead := false // inside <head>: text is dropped, and elements that cannot be in a head end it
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip != "" {
				continue
			}
			t := z.Text()
			if inHead {
				if len(bytes.Trim(t, " \t\n\f\r")) == 0 {
					continue
				}
				inHead = false // text cannot be in a head: the body has begun
			}
			b.Write(t)
		case html.StartTagToken, html.SelfClosingTagToken:
			n, _ := z.TagName()
			name := string(n) // not allocated by the compiler in the switch below
			switch name {
			case "script", "style", "title":
				// The tokenizer reads their content as one raw text token,
				// even after a self-closing tag.
				skip = name
				continue
			case "noscript", "iframe", "noembed", "noframes":
				// Their content is markup, not text to show as is.
				z.NextIsNotRawText()
			case "head":
				inHead = tt == html.StartTagToken
				continue
			case "body", "html":
				inHead = false
			}
			if inHead && !inHeadElement(name) {
				inHead = false
			}
			if isBlockElement(name) {
				b.WriteByte('\n')
			}
		case html.EndTagToken:
			n, _ := z.TagName()
			name := string(n)
			if name == skip {
				skip = ""
				continue
			}
			if name == "head" {
				inHead = false
			}
			if isBlockElement(name) {
				b.WriteByte('\n')
			}
		}
	}
}

// inHeadElement reports whether an element may appear in a head without
// ending it.
func inHeadElement(name string) bool {
	switch name {
	case "base", "basefont", "bgsound", "link", "meta", "noscript", "template", "object", "param":
		return true
	}
	return false
}

// isBlockElement reports whether an element starts a new line of text.
func isBlockElement(name string) bool {
	switch name {
	case "br", "p", "div", "hr", "pre", "blockquote", "center", "address",
		"h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "menu", "dir",
		"table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th",
		"section", "article", "aside", "nav", "header", "footer", "main",
		"figure", "figcaption", "details", "summary", "dialog", "form", "fieldset", "legend",
		"option", "textarea":
		return true
	}
	return false
}

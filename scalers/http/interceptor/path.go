// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"net/http"
	"net/url"
	"strings"
)

// withPath returns a shallow copy of req whose URL has the normalised
// escaped path norm: the route is matched on it and the backend receives it.
func withPath(req *http.Request, norm string) *http.Request {
	r2 := new(http.Request)
	*r2 = *req
	u := *req.URL
	u.Path, _ = url.PathUnescape(norm) // normalizePath checked the escapes
	u.RawPath = norm
	r2.URL = &u
	return r2
}

// normalizePath brings a request's escaped path (URL.EscapedPath) into the
// one form the route table matches and the backend receives:
//
//   - empty segments collapse ("//a" → "/a");
//   - dot segments are resolved (RFC 3986, section 5.2.4), also when their
//     dots are percent-encoded ("/a/%2e%2e/b" → "/b"); a trailing "." or
//     ".." leaves a trailing slash ("/a/b/.." → "/a/");
//   - every other segment is kept byte for byte, escapes included, so a
//     backend sees the same characters the client sent.
//
// ok is false, and the request is answered 400, when the path cannot be
// normalised safely: it does not start with "/", a ".." climbs above the
// root, it holds a backslash (raw or %5C, which some servers take for a
// separator) or an encoded slash (%2F, which some servers decode into a
// separator after the interceptor matched the path as one segment), a NUL
// or control byte, or an escape that is not valid.
//
// A path that needs no change is returned as it is, without allocating.
func normalizePath(raw string) (norm string, ok bool) {
	if raw == "" || raw[0] != '/' {
		return "", false
	}
	if clean(raw) {
		return raw, true
	}
	segs := strings.Split(raw[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		switch dots(s) {
		case 1:
			trailing = last
			continue
		case 2:
			if len(out) == 0 {
				return "", false // above the root
			}
			out = out[:len(out)-1]
			trailing = last
			continue
		case -1:
			return "", false
		}
		if s == "" {
			trailing = last
			continue
		}
		out = append(out, s)
		trailing = false
	}
	var b strings.Builder
	b.Grow(len(raw))
	for _, s := range out {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if trailing || len(out) == 0 {
		b.WriteByte('/')
	}
	return b.String(), true
}

// clean reports whether raw (starting with "/") is already normal and safe:
// no empty segment but a trailing one, no dot segment, no escape other than
// valid ones that are not a dot, slash, backslash or NUL, no backslash.
func clean(raw string) bool {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '\\', 0x7f:
			return false
		case '%':
			if i+2 >= len(raw) || !ishex(raw[i+1]) || !ishex(raw[i+2]) {
				return false
			}
			switch unhex(raw[i+1])<<4 | unhex(raw[i+2]) {
			case '.', '/', '\\', 0:
				return false
			}
		case '/':
			if i+1 < len(raw) {
				switch raw[i+1] {
				case '/':
					return false
				case '.':
					if i+2 == len(raw) || raw[i+2] == '/' || raw[i+2] == '.' {
						return false // "/." or "/.." or "/..x": the slow path decides
					}
				}
			}
		default:
			if c < 0x20 {
				return false
			}
		}
	}
	return true
}

// dots returns 1 for a "." segment, 2 for "..", 0 for any other safe
// segment and -1 for one that cannot be passed on safely (see
// normalizePath). Escapes are decoded for the test.
func dots(seg string) int {
	for i := 0; i < len(seg); i++ {
		if seg[i] < 0x20 || seg[i] == 0x7f || seg[i] == '\\' {
			return -1 // a control byte (EscapedPath escapes them) or a backslash
		}
	}
	if strings.IndexByte(seg, '%') < 0 {
		switch seg {
		case ".":
			return 1
		case "..":
			return 2
		}
		return 0
	}
	dec, err := url.PathUnescape(seg)
	if err != nil || strings.ContainsAny(dec, "/\\\x00") {
		return -1
	}
	switch dec {
	case ".":
		return 1
	case "..":
		return 2
	}
	return 0
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// CheckPathPrefix reports why a route's path prefix is not in the form
// requests are matched in (see normalizePath), or "" when it is.
func CheckPathPrefix(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "must start with /"
	}
	if strings.ContainsAny(p, "?#% \\") {
		return "must not hold ?, #, %, a space or a backslash"
	}
	if n, ok := normalizePath(p); !ok || n != p {
		return "must not hold empty, . or .. segments"
	}
	return ""
}

package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"

	"github.com/gatehouse/gatehouse/internal/apierror"
	"github.com/gatehouse/gatehouse/internal/tenancy"
)

// Text that reaches the database must be valid UTF-8 without NUL: PostgreSQL
// refuses both in text columns (SQLSTATE 22021), which surfaced as a 500,
// while SQLite stores them, so one request behaved differently per engine.
// The guard refuses such input up front (400 naming the field), the same on
// both engines (tenancy.TextProblem); store.IsInvalidInput is the net behind.

// checkParameters refuses a request whose path or query parameters are not
// text (400), or whose path names a resource by an ID that cannot exist
// (404: the parameter's schema in api/openapi.yaml has a pattern, e.g. a
// UUID, that the value does not match). It runs before authentication and
// so before any database query: these are facts about the request's shape,
// not about what exists, and a path that cannot name anything is answered
// like one that matches no operation.
func checkParameters(route *routers.Route, pathParams map[string]string, u *url.URL) error {
	// The router hands over path parameters as they are in the URL,
	// percent-encoded; the handlers get them decoded (r.PathValue).
	decoded := make(map[string]string, len(pathParams))
	for _, name := range sortedKeys(pathParams) {
		v, err := url.PathUnescape(pathParams[name])
		if err != nil {
			return apierror.BadRequest("path parameter %q: %s", name, firstLine(err))
		}
		if p := tenancy.TextProblem(v); p != "" {
			return apierror.BadRequest("path parameter %q %s", name, p)
		}
		decoded[name] = v
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return apierror.BadRequest("query string: %s", firstLine(err))
	}
	if what := valuesProblem(query); what != "" {
		return apierror.BadRequest("query %s", what)
	}
	if err := unknownFilter(route.Operation, query); err != nil {
		return err
	}
	for _, ps := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
		for _, ref := range ps {
			p := ref.Value
			if p == nil || p.In != openapi3.ParameterInPath || p.Schema == nil || p.Schema.Value == nil || p.Schema.Value.Pattern == "" {
				continue
			}
			if v := decoded[p.Name]; !compiled(p.Schema.Value.Pattern).MatchString(v) {
				return apierror.NotFoundError("%s %q not found: not a well-formed ID", p.Name, v)
			}
		}
	}
	return nil
}

// unknownFilter refuses, on the lists paged the seed's way
// (x-gatehouse-paging: offset), a query parameter the operation does not
// declare: those lists filter by their parameters, and a filter misspelt
// or from another API (the seed's ?target_account_id= before Gatehouse
// read it) answered the whole list as if it had matched (issue 17).
// Other operations keep ignoring unknown parameters, as Identity API
// 1.4.0 does.
func unknownFilter(op *openapi3.Operation, query url.Values) error {
	if op.Extensions["x-gatehouse-paging"] != "offset" {
		return nil
	}
	for _, name := range sortedKeys(query) {
		if op.Parameters.GetByInAndName(openapi3.ParameterInQuery, name) == nil {
			var known []string
			for _, p := range op.Parameters {
				if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
					known = append(known, p.Value.Name)
				}
			}
			return apierror.BadRequest("query parameter %q is not a filter of %s (known: %s)", name, op.OperationID, strings.Join(known, ", "))
		}
	}
	return nil
}

// valuesProblem names the first parameter of vs (in name order) whose name
// or a value is not text, with what is wrong ("parameter %q ..."), or "":
// the one check of the API's query strings and the provider's forms.
func valuesProblem(vs url.Values) string {
	for _, name := range sortedKeys(vs) {
		if p := tenancy.TextProblem(name); p != "" {
			return fmt.Sprintf("parameter name %q %s", name, p)
		}
		for _, v := range vs[name] {
			if p := tenancy.TextProblem(v); p != "" {
				return fmt.Sprintf("parameter %q %s", name, p)
			}
		}
	}
	return ""
}

// patterns caches the compiled patterns of path parameters (a handful).
var patterns sync.Map

func compiled(pattern string) *regexp.Regexp {
	if re, ok := patterns.Load(pattern); ok {
		return re.(*regexp.Regexp)
	}
	// The spec is ours and loaded at start; TestPathParameterPatterns
	// compiles every pattern, so MustCompile cannot fail in production.
	re, _ := patterns.LoadOrStore(pattern, regexp.MustCompile(pattern))
	return re.(*regexp.Regexp)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// readBody reads a JSON request body (at most MaxBodyBytes: 413 beyond),
// refuses it unless it is text throughout (400), and puts it back for
// validation and the handler. The raw bytes must be valid UTF-8, since
// encoding/json quietly turns invalid bytes into U+FFFD; every key and
// string value, at any depth, must be free of NUL (which JSON can carry as
// \u0000). A body that is not JSON is left for schema validation to refuse.
func readBody(r *http.Request) error {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apierror.Error{Status: http.StatusRequestEntityTooLarge, Code: apierror.InvalidRequest,
				Description: fmt.Sprintf("request body larger than %d bytes", MaxBodyBytes)}
		}
		return apierror.BadRequest("read request body: %s", firstLine(err))
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if !utf8.Valid(raw) {
		return apierror.BadRequest("request body: %s", bodyUTF8Problem(raw))
	}
	if bytes.IndexByte(raw, 0) < 0 && !bytes.Contains(raw, []byte(`\u0000`)) {
		return nil // nothing can decode to NUL: no need to walk it
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	if field, ok := nulField(v, ""); ok {
		return apierror.BadRequest("request body: field %s contains a NUL character", field)
	}
	return nil
}

// bodyUTF8Problem names where in raw the first invalid UTF-8 byte is: the
// field whose value (or key) holds it, when raw decodes as JSON.
func bodyUTF8Problem(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) == nil {
		// encoding/json has replaced the invalid bytes with U+FFFD; mark them
		// in a copy with an escaped NUL instead, and look for the field that
		// holds it.
		marked := bytes.ToValidUTF8(raw, []byte(`\u0000`))
		var w any
		if json.Unmarshal(marked, &w) == nil {
			if field, ok := nulField(w, ""); ok {
				return "field " + field + " is not valid UTF-8"
			}
		}
	}
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n <= 1 {
			return "not valid UTF-8 (byte " + strconv.Itoa(i) + ")"
		}
		i += n
	}
	return "not valid UTF-8"
}

// nulField finds a key or string value holding NUL in a decoded JSON value
// and returns its path (metadata.tags[0].name); a key is named by the
// object that holds it.
func nulField(v any, at string) (string, bool) {
	join := func(k string) string {
		if at == "" {
			return k
		}
		return at + "." + k
	}
	switch x := v.(type) {
	case string:
		return at, strings.IndexByte(x, 0) >= 0
	case []any:
		for i, e := range x {
			if f, ok := nulField(e, at+"["+strconv.Itoa(i)+"]"); ok {
				return f, true
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if strings.IndexByte(k, 0) >= 0 {
				return join(strconv.Quote(k)) + " (a key)", true
			}
			if f, ok := nulField(x[k], join(k)); ok {
				return f, true
			}
		}
	}
	return "", false
}
